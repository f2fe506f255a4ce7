/*
 * spec/sud_stubs.c - the exempt text range of the SUD output commit.
 *
 * Every syscall spec/sud*.c issues goes through these few asm stubs in one
 * text section, [spec_sud__exempt_start, _end): the kernel checks the
 * address *after* the syscall instruction against that range, so each
 * stub's syscall is followed by an instruction inside it. rt_sigreturn is
 * not exempt on x86-64: the SIGSYS handler is installed with raw
 * rt_sigaction and its own SA_RESTORER (spec_sud__restorer), which is in
 * the range.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "client/spec/sud_internal.h"

/*
 * long spec_sud__sys6(nr, a1..a6): a raw syscall, -errno on failure.
 * spec_sud__restorer: our SA_RESTORER (rt_sigreturn).
 * spec_sud__sigreturn_at(sp): rt_sigreturn on the frame at sp (a program
 * handler's frame whose own rt_sigreturn trapped).
 * Every syscall instruction is followed by one more instruction in range.
 */
__asm__(".pushsection .text.spec_sud_exempt,\"ax\",@progbits\n"
	".balign 16\n"
	".globl spec_sud__exempt_start\n"
	".hidden spec_sud__exempt_start\n"
	"spec_sud__exempt_start:\n"
	".globl spec_sud__sys6\n"
	".hidden spec_sud__sys6\n"
	".type spec_sud__sys6,@function\n"
	"spec_sud__sys6:\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	movq %rdx, %rsi\n"
	"	movq %rcx, %rdx\n"
	"	movq %r8, %r10\n"
	"	movq %r9, %r8\n"
	"	movq 8(%rsp), %r9\n"
	"	syscall\n"
	"	ret\n"
	".size spec_sud__sys6, .-spec_sud__sys6\n"
	".balign 16\n"
	".globl spec_sud__restorer\n"
	".hidden spec_sud__restorer\n"
	".type spec_sud__restorer,@function\n"
	"spec_sud__restorer:\n"
	"	movq $15, %rax\n"
	"	syscall\n"
	"	ud2\n"
	".size spec_sud__restorer, .-spec_sud__restorer\n"
	".balign 16\n"
	".globl spec_sud__sigreturn_at\n"
	".hidden spec_sud__sigreturn_at\n"
	".type spec_sud__sigreturn_at,@function\n"
	"spec_sud__sigreturn_at:\n"
	"	movq %rdi, %rsp\n"
	"	movq $15, %rax\n"
	"	syscall\n"
	"	ud2\n"
	".size spec_sud__sigreturn_at, .-spec_sud__sigreturn_at\n"
	".globl spec_sud__exempt_end\n"
	".hidden spec_sud__exempt_end\n"
	"spec_sud__exempt_end:\n"
	"	ud2\n"
	".popsection\n");
