//go:build amd64 && !purego

#include "textflag.h"

// The AVX-512 micro-kernel of packed.go. A 14x32 tile of C lives in 28 zmm
// registers (row r in Z(2r), Z(2r+1)); per k, B contributes two 16-float
// vectors (Z28, Z29) and A one broadcast element per row (Z30/Z31 in turn).
// Per k: 2 loads, 14 broadcasts, 28 FMAs: the FMA ports set the pace.

// The tile's sum over k starts from zero (plus the bias), and C's old
// values (load) are added once at the end: a long sum rounds at the scale of
// the product, not at that of C (a residual stream that may be much larger).
// ADDROW adds row r of C (at SI) to its registers; STOREROW writes it back.
#define ADDROW(z0, z1) VADDPS (SI), z0, z0; VADDPS 64(SI), z1, z1; ADDQ R8, SI
#define STOREROW(z0, z1) VMOVUPS z0, (SI); VMOVUPS z1, 64(SI); ADDQ R8, SI
#define ZEROROW(z0, z1) VXORPS z0, z0, z0; VXORPS z1, z1, z1
#define BIASROW(z0, z1) VADDPS Z28, z0, z0; VADDPS Z29, z1, z1
// FMAROW adds A's element at off(AX) times the B vectors to a row.
#define FMAROW(off, t, z0, z1) VFMADD231PS.BCST off(AX), Z28, z0; VFMADD231PS.BCST off(AX), Z29, z1

// func sgemm14x32(a, b, c, bias *float32, kc, ldc int, load bool)
TEXT ·sgemm14x32(SB), NOSPLIT, $0-49
	MOVQ    a+0(FP), AX
	MOVQ    b+8(FP), BX
	MOVQ    c+16(FP), DI
	MOVQ    bias+24(FP), DX
	MOVQ    kc+32(FP), CX
	MOVQ    ldc+40(FP), R8
	SHLQ    $2, R8             // row stride in bytes
	MOVBQZX load+48(FP), R9
	ZEROROW(Z0, Z1)
	ZEROROW(Z2, Z3)
	ZEROROW(Z4, Z5)
	ZEROROW(Z6, Z7)
	ZEROROW(Z8, Z9)
	ZEROROW(Z10, Z11)
	ZEROROW(Z12, Z13)
	ZEROROW(Z14, Z15)
	ZEROROW(Z16, Z17)
	ZEROROW(Z18, Z19)
	ZEROROW(Z20, Z21)
	ZEROROW(Z22, Z23)
	ZEROROW(Z24, Z25)
	ZEROROW(Z26, Z27)

addbias:
	TESTQ   DX, DX
	JZ      check
	VMOVUPS (DX), Z28
	VMOVUPS 64(DX), Z29
	BIASROW(Z0, Z1)
	BIASROW(Z2, Z3)
	BIASROW(Z4, Z5)
	BIASROW(Z6, Z7)
	BIASROW(Z8, Z9)
	BIASROW(Z10, Z11)
	BIASROW(Z12, Z13)
	BIASROW(Z14, Z15)
	BIASROW(Z16, Z17)
	BIASROW(Z18, Z19)
	BIASROW(Z20, Z21)
	BIASROW(Z22, Z23)
	BIASROW(Z24, Z25)
	BIASROW(Z26, Z27)

check:
	TESTQ CX, CX
	JZ    store

loop:
	VMOVUPS (BX), Z28
	VMOVUPS 64(BX), Z29
	FMAROW(0, Z30, Z0, Z1)
	FMAROW(4, Z31, Z2, Z3)
	FMAROW(8, Z30, Z4, Z5)
	FMAROW(12, Z31, Z6, Z7)
	FMAROW(16, Z30, Z8, Z9)
	FMAROW(20, Z31, Z10, Z11)
	FMAROW(24, Z30, Z12, Z13)
	FMAROW(28, Z31, Z14, Z15)
	FMAROW(32, Z30, Z16, Z17)
	FMAROW(36, Z31, Z18, Z19)
	FMAROW(40, Z30, Z20, Z21)
	FMAROW(44, Z31, Z22, Z23)
	FMAROW(48, Z30, Z24, Z25)
	FMAROW(52, Z31, Z26, Z27)
	ADDQ    $56, AX
	ADDQ    $128, BX
	DECQ    CX
	JNZ     loop

store:
	TESTQ R9, R9
	JZ    write
	MOVQ  DI, SI
	ADDROW(Z0, Z1)
	ADDROW(Z2, Z3)
	ADDROW(Z4, Z5)
	ADDROW(Z6, Z7)
	ADDROW(Z8, Z9)
	ADDROW(Z10, Z11)
	ADDROW(Z12, Z13)
	ADDROW(Z14, Z15)
	ADDROW(Z16, Z17)
	ADDROW(Z18, Z19)
	ADDROW(Z20, Z21)
	ADDROW(Z22, Z23)
	ADDROW(Z24, Z25)
	ADDROW(Z26, Z27)

write:
	MOVQ DI, SI
	STOREROW(Z0, Z1)
	STOREROW(Z2, Z3)
	STOREROW(Z4, Z5)
	STOREROW(Z6, Z7)
	STOREROW(Z8, Z9)
	STOREROW(Z10, Z11)
	STOREROW(Z12, Z13)
	STOREROW(Z14, Z15)
	STOREROW(Z16, Z17)
	STOREROW(Z18, Z19)
	STOREROW(Z20, Z21)
	STOREROW(Z22, Z23)
	STOREROW(Z24, Z25)
	STOREROW(Z26, Z27)
	VZEROUPPER
	RET
