.globl _start
_start:
    mov x19, x0
    mov x20, #0
next_step:
    ldr x9, [x19, #8]
    cmp x20, x9
    b.hs finish
    mov x9, #96
    madd x21, x20, x9, x19
    add x21, x21, #32
    ldr x22, [x21, #56]
    ldr x0, [x21, #8]
    tbz x22, #8, 1f
    ldr x0, [x0]
1:  ldr x1, [x21, #16]
    tbz x22, #9, 1f
    ldr x1, [x1]
1:  ldr x2, [x21, #24]
    tbz x22, #10, 1f
    ldr x2, [x2]
1:  ldr x3, [x21, #32]
    tbz x22, #11, 1f
    ldr x3, [x3]
1:  ldr x4, [x21, #40]
    tbz x22, #12, 1f
    ldr x4, [x4]
1:  ldr x5, [x21, #48]
    tbz x22, #13, 1f
    ldr x5, [x5]
1:  ldr x8, [x21]
    cmn x8, #1
    b.ne do_syscall
    eor x0, x0, x2
    and x0, x0, x1
    cbz x0, success
    mov x10, x0
    b report
do_syscall:
    svc #0
after:
    tbz x22, #1, 2f
    ldr x9, [x21, #64]
    str x0, [x9]
2:  mov x9, #-4095
    cmp x0, x9
    b.lo success
    neg x10, x0
    ldr x9, [x21, #80]
    cmp x10, x9
    b.eq success
    tbnz x22, #0, success
report:
    stp x20, x10, [sp, #-16]!
    ldr x0, [x19]
    mov x1, sp
    mov x2, #16
    mov x8, #64
    svc #0
    mov x0, #1
    mov x8, #94
    svc #0
success:
    tbz x22, #2, 3f
    cbz x0, 3f
    ldr x20, [x21, #72]
    b next_step
3:  add x20, x20, #1
    b next_step
finish:
    mov x0, #0
    mov x8, #94
    svc #0
