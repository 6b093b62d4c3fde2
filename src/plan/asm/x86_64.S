.intel_syntax noprefix
.globl _start
_start:
    mov r12, rdi
    xor r13d, r13d
next_step:
    cmp r13, [r12+8]
    jae finish
    imul r14, r13, 96
    lea r14, [r12+r14+32]
    mov r15, [r14+56]
    mov rdi, [r14+8]
    bt r15, 8
    jnc 1f
    mov rdi, [rdi]
1:  mov rsi, [r14+16]
    bt r15, 9
    jnc 1f
    mov rsi, [rsi]
1:  mov rdx, [r14+24]
    bt r15, 10
    jnc 1f
    mov rdx, [rdx]
1:  mov r10, [r14+32]
    bt r15, 11
    jnc 1f
    mov r10, [r10]
1:  mov r8, [r14+40]
    bt r15, 12
    jnc 1f
    mov r8, [r8]
1:  mov r9, [r14+48]
    bt r15, 13
    jnc 1f
    mov r9, [r9]
1:  mov rax, [r14]
    cmp rax, -1
    jne do_syscall
    mov rax, rdi
    xor rax, rdx
    and rax, rsi
    jz success
    mov rbx, rax
    jmp report
do_syscall:
    syscall
after:
    bt r15, 1
    jnc 2f
    mov rbx, [r14+64]
    mov [rbx], rax
2:  cmp rax, -4095
    jb success
    mov rbx, rax
    neg rbx
    cmp rbx, [r14+80]
    je success
    bt r15, 0
    jc success
report:
    push rbx
    push r13
    mov rdi, [r12]
    mov rsi, rsp
    mov edx, 16
    mov eax, 1
    syscall
    mov edi, 1
    mov eax, 231
    syscall
success:
    bt r15, 2
    jnc 3f
    test rax, rax
    jz 3f
    mov r13, [r14+72]
    jmp next_step
3:  inc r13
    jmp next_step
finish:
    xor edi, edi
    mov eax, 231
    syscall
