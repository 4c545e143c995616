//go:build amd64 && !purego

#include "textflag.h"

// Vector kernels for rows.go. Constants come pre-broadcast (8 lanes each)
// from tables built in simd.go; offsets below are 32 bytes per row.

// func geluAVX2(x []float32, c *[4]float64)
// Four lanes at a time in float64, so the result matches the pure-Go path.
TEXT ·geluAVX2(SB), NOSPLIT, $0-32
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	MOVQ c+24(FP), SI
	SHRQ $2, CX
	JZ   gelu_done

gelu_loop:
	VCVTPS2PD   (DI), Y0         // 4 floats to float64
	VMULPD      0(SI), Y0, Y1    // t = x/√2
	VCMPPD      $13, 32(SI), Y1, Y6 // t >= 4: erf is 1
	VCMPPD      $2, 64(SI), Y1, Y7  // t <= -4: erf is -1
	VMINPD      32(SI), Y1, Y1   // t = min(t, 4)
	VMAXPD      64(SI), Y1, Y1   // t = max(t, -4)
	VMULPD      Y1, Y1, Y2       // z = t²
	VMOVUPD     160(SI), Y3      // p = P6
	VFMADD213PD 192(SI), Y2, Y3  // p = p·z + P5
	VFMADD213PD 224(SI), Y2, Y3  // P4
	VFMADD213PD 256(SI), Y2, Y3  // P3
	VFMADD213PD 288(SI), Y2, Y3  // P2
	VFMADD213PD 320(SI), Y2, Y3  // P1
	VFMADD213PD 352(SI), Y2, Y3  // P0
	VMOVUPD     384(SI), Y4      // q = Q5
	VFMADD213PD 416(SI), Y2, Y4  // q = q·z + Q4
	VFMADD213PD 448(SI), Y2, Y4  // Q3
	VFMADD213PD 480(SI), Y2, Y4  // Q2
	VFMADD213PD 512(SI), Y2, Y4  // Q1
	VFMADD213PD 128(SI), Y2, Y4  // 1
	VMULPD      Y1, Y3, Y3       // p·t
	VDIVPD      Y4, Y3, Y3       // erf = p·t/q
	VBLENDVPD   Y6, 128(SI), Y3, Y3 // 1 where t >= 4
	VBLENDVPD   Y7, 544(SI), Y3, Y3 // -1 where t <= -4
	VMULPD      96(SI), Y0, Y5   // h = x/2
	VFMADD213PD Y5, Y5, Y3       // y = erf·h + h
	VCVTPD2PSY  Y3, X3           // back to float32
	VMOVUPS     X3, (DI)
	ADDQ        $16, DI
	DECQ        CX
	JNZ         gelu_loop

gelu_done:
	VZEROUPPER
	RET

// func expShiftSumAVX2(x []float32, m float32, c *[8]float32) float32
TEXT ·expShiftSumAVX2(SB), NOSPLIT, $0-44
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Y8
	MOVQ         c+32(FP), SI
	VXORPS       Y7, Y7, Y7      // sum
	VMOVUPS      0(SI), Y9       // underflow threshold
	SHRQ         $3, CX
	JZ           exp_done

exp_loop:
	VMOVUPS      (DI), Y0
	VSUBPS       Y8, Y0, Y0      // d = x - m
	VCMPPS       $1, Y9, Y0, Y6  // underflow mask: d < -87.33 (false for NaN)
	VMAXPS       Y0, Y9, Y0      // d = max(-87.33, d), NaN kept
	VMULPS       32(SI), Y0, Y1  // d·log2(e)
	VROUNDPS     $0, Y1, Y1      // n = round to nearest
	VFNMADD231PS 64(SI), Y1, Y0  // r = d - n·ln2hi
	VFNMADD231PS 96(SI), Y1, Y0  // r -= n·ln2lo
	VMOVUPS      128(SI), Y2     // p = 1/7!
	VFMADD213PS  160(SI), Y0, Y2 // p = p·r + 1/6!
	VFMADD213PS  192(SI), Y0, Y2 // 1/5!
	VFMADD213PS  224(SI), Y0, Y2 // 1/4!
	VFMADD213PS  256(SI), Y0, Y2 // 1/3!
	VFMADD213PS  288(SI), Y0, Y2 // 1/2
	VFMADD213PS  320(SI), Y0, Y2 // 1
	VFMADD213PS  320(SI), Y0, Y2 // 1
	VCVTPS2DQ    Y1, Y1          // n as int32
	VPADDD       352(SI), Y1, Y1 // + 127
	VPSLLD       $23, Y1, Y1     // 2^n
	VMULPS       Y1, Y2, Y2      // e = p·2^n
	VANDNPS      Y2, Y6, Y2      // 0 where d underflowed
	VMOVUPS      Y2, (DI)
	VADDPS       Y2, Y7, Y7
	ADDQ         $32, DI
	DECQ         CX
	JNZ          exp_loop

exp_done:
	VEXTRACTF128 $1, Y7, X1
	VADDPS       X1, X7, X7
	VHADDPS      X7, X7, X7
	VHADDPS      X7, X7, X7
	VZEROUPPER
	MOVSS        X7, ret+40(FP)
	RET

// func f16ToF32F16C(dst []float32, src []uint16)
// Converts len(src)/8*8 halves with F16C; len(dst) >= len(src).
TEXT ·f16ToF32F16C(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   f16_done

f16_loop:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       f16_loop

f16_done:
	VZEROUPPER
	RET

// func bf16ToF32AVX2(dst []float32, src []uint16)
// Widens len(src)/8*8 bfloat16 values; len(dst) >= len(src).
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   bf16_done

bf16_loop:
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       bf16_loop

bf16_done:
	VZEROUPPER
	RET

// func cpuHasF16C() bool
// CPUID leaf 1, ECX bit 29.
TEXT ·cpuHasF16C(SB), NOSPLIT, $0-1
	MOVL  $1, AX
	XORL  CX, CX
	CPUID
	SHRL  $29, CX
	ANDL  $1, CX
	MOVB  CX, ret+0(FP)
	RET

// func sumAVX2(x []float32) float64
// Sum of the first len(x)/8*8 elements, accumulated in float64.
TEXT ·sumAVX2(SB), NOSPLIT, $0-32
	MOVQ   x_base+0(FP), DI
	MOVQ   x_len+8(FP), CX
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	SHRQ   $3, CX
	JZ     sum_done

sum_loop:
	VCVTPS2PD (DI), Y0
	VCVTPS2PD 16(DI), Y1
	VADDPD    Y0, Y2, Y2
	VADDPD    Y1, Y3, Y3
	ADDQ      $32, DI
	DECQ      CX
	JNZ       sum_loop

sum_done:
	VADDPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X1
	VADDPD       X1, X2, X2
	VHADDPD      X2, X2, X2
	VZEROUPPER
	MOVSD        X2, ret+24(FP)
	RET

// func sumSqDevAVX2(x []float32, mean float64) float64
// Sum of (x-mean)² over the first len(x)/8*8 elements, in float64.
TEXT ·sumSqDevAVX2(SB), NOSPLIT, $0-40
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD mean+24(FP), Y8
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	SHRQ         $3, CX
	JZ           ssd_done

ssd_loop:
	VCVTPS2PD   (DI), Y0
	VCVTPS2PD   16(DI), Y1
	VSUBPD      Y8, Y0, Y0
	VSUBPD      Y8, Y1, Y1
	VFMADD231PD Y0, Y0, Y2
	VFMADD231PD Y1, Y1, Y3
	ADDQ        $32, DI
	DECQ        CX
	JNZ         ssd_loop

ssd_done:
	VADDPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X1
	VADDPD       X1, X2, X2
	VHADDPD      X2, X2, X2
	VZEROUPPER
	MOVSD        X2, ret+32(FP)
	RET

// func normAffineAVX2(y, x, w, b []float32, mean, rstd float64)
// y = float32((x-mean)·rstd)·w + b over the first len(x)/4*4 elements.
TEXT ·normAffineAVX2(SB), NOSPLIT, $0-112
	MOVQ         y_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         w_base+48(FP), R8
	MOVQ         b_base+72(FP), R9
	VBROADCASTSD mean+96(FP), Y8
	VBROADCASTSD rstd+104(FP), Y9
	SHRQ         $2, CX
	JZ           norm_done

norm_loop:
	VCVTPS2PD  (SI), Y0
	VSUBPD     Y8, Y0, Y0
	VMULPD     Y9, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMULPS     (R8), X0, X0
	VADDPS     (R9), X0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	ADDQ       $16, R8
	ADDQ       $16, R9
	DECQ       CX
	JNZ        norm_loop

norm_done:
	VZEROUPPER
	RET
