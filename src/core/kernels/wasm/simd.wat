;; Kernels for the TF.js wasm backend on wasm SIMD (f32x4), over the backend's own heap (its memory is
;; imported): the batched matrix product (bmm), the GroupNorm(+SiLU) backward's two passes, the
;; GroupNorm forward's moments and affine map, and column sums (bias gradients).
;; Source of src/core/kernels/simdModule.generated.ts: `npm run build:wasm-kernels` assembles it (wabt)
;; and test/bmmSimd.test.ts checks that the committed module is this text, assembled.
;; MEMORY is replaced by the build: one module for an unshared heap, one for the threaded build's shared one.
(module
  (import "env" "memory" MEMORY)

  ;; Two output rows: C0[j] = sum_k A0[k] B[k][j], C1[j] = sum_k A1[k] B[k][j].
  ;; pa0, pa1: the rows of A (element k at pa + k * as); pb: B[0][0], row stride bs (bytes), B's rows contiguous.
  (func $rows2 (param $pa0 i32) (param $pa1 i32) (param $as i32) (param $pb i32) (param $bs i32)
               (param $K i32) (param $pc0 i32) (param $pc1 i32) (param $N i32)
    (local $j i32) (local $k i32) (local $qa0 i32) (local $qa1 i32) (local $qb i32)
    (local $s0 v128) (local $s1 v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $f0 f32) (local $f1 f32) (local $x f32)
    ;; 8 columns at a time
    (block $done8
      (loop $j8
        (br_if $done8 (i32.gt_s (i32.add (local.get $j) (i32.const 8)) (local.get $N)))
        (local.set $c00 (v128.const i32x4 0 0 0 0))
        (local.set $c01 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0))
        (local.set $c11 (v128.const i32x4 0 0 0 0))
        (local.set $qa0 (local.get $pa0))
        (local.set $qa1 (local.get $pa1))
        (local.set $qb (i32.add (local.get $pb) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $k (local.get $K))
        (block $dk (loop $lk
          (br_if $dk (i32.eqz (local.get $k)))
          (local.set $s0 (f32x4.splat (f32.load (local.get $qa0))))
          (local.set $s1 (f32x4.splat (f32.load (local.get $qa1))))
          (local.set $b0 (v128.load (local.get $qb)))
          (local.set $b1 (v128.load offset=16 (local.get $qb)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s0) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s0) (local.get $b1))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s1) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s1) (local.get $b1))))
          (local.set $qa0 (i32.add (local.get $qa0) (local.get $as)))
          (local.set $qa1 (i32.add (local.get $qa1) (local.get $as)))
          (local.set $qb (i32.add (local.get $qb) (local.get $bs)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $lk)))
        (v128.store (i32.add (local.get $pc0) (i32.shl (local.get $j) (i32.const 2))) (local.get $c00))
        (v128.store offset=16 (i32.add (local.get $pc0) (i32.shl (local.get $j) (i32.const 2))) (local.get $c01))
        (v128.store (i32.add (local.get $pc1) (i32.shl (local.get $j) (i32.const 2))) (local.get $c10))
        (v128.store offset=16 (i32.add (local.get $pc1) (i32.shl (local.get $j) (i32.const 2))) (local.get $c11))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $j8)))
    ;; 4 columns
    (block $done4
      (loop $j4
        (br_if $done4 (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $N)))
        (local.set $c00 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0))
        (local.set $qa0 (local.get $pa0))
        (local.set $qa1 (local.get $pa1))
        (local.set $qb (i32.add (local.get $pb) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $k (local.get $K))
        (block $dk4 (loop $lk4
          (br_if $dk4 (i32.eqz (local.get $k)))
          (local.set $b0 (v128.load (local.get $qb)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (f32x4.splat (f32.load (local.get $qa0))) (local.get $b0))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (f32x4.splat (f32.load (local.get $qa1))) (local.get $b0))))
          (local.set $qa0 (i32.add (local.get $qa0) (local.get $as)))
          (local.set $qa1 (i32.add (local.get $qa1) (local.get $as)))
          (local.set $qb (i32.add (local.get $qb) (local.get $bs)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $lk4)))
        (v128.store (i32.add (local.get $pc0) (i32.shl (local.get $j) (i32.const 2))) (local.get $c00))
        (v128.store (i32.add (local.get $pc1) (i32.shl (local.get $j) (i32.const 2))) (local.get $c10))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $j4)))
    ;; the last columns, one at a time
    (block $done1
      (loop $j1
        (br_if $done1 (i32.ge_s (local.get $j) (local.get $N)))
        (local.set $f0 (f32.const 0))
        (local.set $f1 (f32.const 0))
        (local.set $qa0 (local.get $pa0))
        (local.set $qa1 (local.get $pa1))
        (local.set $qb (i32.add (local.get $pb) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $k (local.get $K))
        (block $dk1 (loop $lk1
          (br_if $dk1 (i32.eqz (local.get $k)))
          (local.set $x (f32.load (local.get $qb)))
          (local.set $f0 (f32.add (local.get $f0) (f32.mul (f32.load (local.get $qa0)) (local.get $x))))
          (local.set $f1 (f32.add (local.get $f1) (f32.mul (f32.load (local.get $qa1)) (local.get $x))))
          (local.set $qa0 (i32.add (local.get $qa0) (local.get $as)))
          (local.set $qa1 (i32.add (local.get $qa1) (local.get $as)))
          (local.set $qb (i32.add (local.get $qb) (local.get $bs)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $lk1)))
        (f32.store (i32.add (local.get $pc0) (i32.shl (local.get $j) (i32.const 2))) (local.get $f0))
        (f32.store (i32.add (local.get $pc1) (i32.shl (local.get $j) (i32.const 2))) (local.get $f1))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j1)))
  )

  ;; C[t] = op(A[t]) op(B[t]) for t < batch; C contiguous [batch, M, N]. Strides in elements:
  ;; A[t][i][k] at a + t*aT + i*aI + k*aK; B[t][k][j] at b + t*bT + k*bK + j*bJ. When bJ != 1,
  ;; each B[t] is first copied to scratch (K*N floats) as rows of N. An odd last row of C is
  ;; computed with its row as both rows of the pair (written twice, same values): scratchRow
  ;; (N floats) takes the duplicate.
  (func (export "bmm")
    (param $a i32) (param $b i32) (param $c i32) (param $batch i32)
    (param $M i32) (param $N i32) (param $K i32)
    (param $aT i32) (param $aI i32) (param $aK i32)
    (param $bT i32) (param $bK i32) (param $bJ i32)
    (param $scratch i32) (param $scratchRow i32)
    (local $t i32) (local $i i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $bs i32)
    (local $k i32) (local $j i32) (local $src i32) (local $dst i32)
    (block $dt (loop $lt
      (br_if $dt (i32.ge_s (local.get $t) (local.get $batch)))
      (local.set $pa (i32.add (local.get $a) (i32.shl (i32.mul (local.get $t) (local.get $aT)) (i32.const 2))))
      (local.set $pb (i32.add (local.get $b) (i32.shl (i32.mul (local.get $t) (local.get $bT)) (i32.const 2))))
      (local.set $pc (i32.add (local.get $c) (i32.shl (i32.mul (local.get $t) (i32.mul (local.get $M) (local.get $N))) (i32.const 2))))
      (local.set $bs (i32.shl (local.get $bK) (i32.const 2)))
      (if (i32.ne (local.get $bJ) (i32.const 1))
        (then
          ;; scratch[k*N + j] = B[t][k][j]
          (local.set $dst (local.get $scratch))
          (local.set $k (i32.const 0))
          (block $dk (loop $lk
            (br_if $dk (i32.ge_s (local.get $k) (local.get $K)))
            (local.set $src (i32.add (local.get $pb) (i32.shl (i32.mul (local.get $k) (local.get $bK)) (i32.const 2))))
            (local.set $j (i32.const 0))
            (block $dj (loop $lj
              (br_if $dj (i32.ge_s (local.get $j) (local.get $N)))
              (f32.store (local.get $dst) (f32.load (local.get $src)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $src (i32.add (local.get $src) (i32.shl (local.get $bJ) (i32.const 2))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $lj)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $lk)))
          (local.set $pb (local.get $scratch))
          (local.set $bs (i32.shl (local.get $N) (i32.const 2)))))
      (local.set $i (i32.const 0))
      (block $di (loop $li
        (br_if $di (i32.gt_s (i32.add (local.get $i) (i32.const 2)) (local.get $M)))
        (call $rows2
          (i32.add (local.get $pa) (i32.shl (i32.mul (local.get $i) (local.get $aI)) (i32.const 2)))
          (i32.add (local.get $pa) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $aI)) (i32.const 2)))
          (i32.shl (local.get $aK) (i32.const 2))
          (local.get $pb) (local.get $bs) (local.get $K)
          (i32.add (local.get $pc) (i32.shl (i32.mul (local.get $i) (local.get $N)) (i32.const 2)))
          (i32.add (local.get $pc) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $N)) (i32.const 2)))
          (local.get $N))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $li)))
      (if (i32.lt_s (local.get $i) (local.get $M))
        (then
          (call $rows2
            (i32.add (local.get $pa) (i32.shl (i32.mul (local.get $i) (local.get $aI)) (i32.const 2)))
            (i32.add (local.get $pa) (i32.shl (i32.mul (local.get $i) (local.get $aI)) (i32.const 2)))
            (i32.shl (local.get $aK) (i32.const 2))
            (local.get $pb) (local.get $bs) (local.get $K)
            (i32.add (local.get $pc) (i32.shl (i32.mul (local.get $i) (local.get $N)) (i32.const 2)))
            (local.get $scratchRow)
            (local.get $N))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $lt)))
  )

  ;; GroupNorm(+SiLU) backward, pass 1, over one batch item's HW x C values (C a multiple of 4),
  ;; per channel vectors of 4: xh = (x - m[c]) r[c]; with SiLU (s = sigmoid(z) saved by the forward,
  ;; z = g[c] xh + b[c]) dz = dy s (1 + z (1 - s)), else dz = dy; dg[c] += dz xh, db[c] += dz;
  ;; dxh = dz g[c]; s1[c] += dxh, s2[c] += dxh xh (the caller sums those per group); dx = dxh.
  (func (export "gn_pass1")
    (param $dy i32) (param $x i32) (param $s i32) (param $dx i32) (param $HW i32) (param $C i32)
    (param $m i32) (param $r i32) (param $g i32) (param $b i32)
    (param $dg i32) (param $db i32) (param $s1 i32) (param $s2 i32) (param $silu i32)
    (local $p i32) (local $c i32) (local $off i32) (local $co i32)
    (local $xh v128) (local $d v128) (local $gv v128) (local $z v128) (local $sv v128) (local $dxh v128)
    (block $dp (loop $lp
      (br_if $dp (i32.ge_s (local.get $p) (local.get $HW)))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_s (local.get $c) (local.get $C)))
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $p) (local.get $C)) (local.get $c)) (i32.const 2)))
        (local.set $co (i32.shl (local.get $c) (i32.const 2)))
        (local.set $xh (f32x4.mul
          (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (v128.load (i32.add (local.get $m) (local.get $co))))
          (v128.load (i32.add (local.get $r) (local.get $co)))))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $co))))
        (local.set $d (v128.load (i32.add (local.get $dy) (local.get $off))))
        (if (local.get $silu)
          (then
            (local.set $z (f32x4.add (f32x4.mul (local.get $gv) (local.get $xh)) (v128.load (i32.add (local.get $b) (local.get $co)))))
            (local.set $sv (v128.load (i32.add (local.get $s) (local.get $off))))
            (local.set $d (f32x4.mul (f32x4.mul (local.get $d) (local.get $sv))
              (f32x4.add (f32x4.splat (f32.const 1))
                (f32x4.mul (local.get $z) (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $sv))))))))
        (v128.store (i32.add (local.get $dg) (local.get $co))
          (f32x4.add (v128.load (i32.add (local.get $dg) (local.get $co))) (f32x4.mul (local.get $d) (local.get $xh))))
        (v128.store (i32.add (local.get $db) (local.get $co))
          (f32x4.add (v128.load (i32.add (local.get $db) (local.get $co))) (local.get $d)))
        (local.set $dxh (f32x4.mul (local.get $d) (local.get $gv)))
        (v128.store (i32.add (local.get $s1) (local.get $co))
          (f32x4.add (v128.load (i32.add (local.get $s1) (local.get $co))) (local.get $dxh)))
        (v128.store (i32.add (local.get $s2) (local.get $co))
          (f32x4.add (v128.load (i32.add (local.get $s2) (local.get $co))) (f32x4.mul (local.get $dxh) (local.get $xh))))
        (v128.store (i32.add (local.get $dx) (local.get $off)) (local.get $dxh))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp)))
  )

  ;; Pass 2 over the same item: dx = r[c] (dxh - a[c] - xh q[c]), a and q the group means of dxh and
  ;; dxh xh spread to the group's channels; dxh is read from dx (pass 1 left it there).
  (func (export "gn_pass2")
    (param $x i32) (param $dx i32) (param $HW i32) (param $C i32) (param $m i32) (param $r i32) (param $a i32) (param $q i32)
    (local $p i32) (local $c i32) (local $off i32) (local $co i32) (local $rv v128) (local $xh v128)
    (block $dp (loop $lp
      (br_if $dp (i32.ge_s (local.get $p) (local.get $HW)))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_s (local.get $c) (local.get $C)))
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $p) (local.get $C)) (local.get $c)) (i32.const 2)))
        (local.set $co (i32.shl (local.get $c) (i32.const 2)))
        (local.set $rv (v128.load (i32.add (local.get $r) (local.get $co))))
        (local.set $xh (f32x4.mul
          (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (v128.load (i32.add (local.get $m) (local.get $co))))
          (local.get $rv)))
        (v128.store (i32.add (local.get $dx) (local.get $off))
          (f32x4.mul (local.get $rv)
            (f32x4.sub
              (f32x4.sub (v128.load (i32.add (local.get $dx) (local.get $off))) (v128.load (i32.add (local.get $a) (local.get $co))))
              (f32x4.mul (local.get $xh) (v128.load (i32.add (local.get $q) (local.get $co)))))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp)))
  )

  ;; Column sums of a [rows, C] block (C a multiple of 4): out[c] += sum_r x[r][c], in float32 (the
  ;; caller keeps blocks short and adds them up in float64).
  (func (export "colsum") (param $x i32) (param $rows i32) (param $C i32) (param $out i32)
    (local $r i32) (local $c i32) (local $co i32) (local $row i32)
    (block $dr (loop $lr
      (br_if $dr (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $C)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_s (local.get $c) (local.get $C)))
        (local.set $co (i32.shl (local.get $c) (i32.const 2)))
        (v128.store (i32.add (local.get $out) (local.get $co))
          (f32x4.add (v128.load (i32.add (local.get $out) (local.get $co))) (v128.load (i32.add (local.get $row) (local.get $co)))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $lr)))
  )

  ;; GroupNorm forward, moments of one batch item's HW x C values about a pivot per channel:
  ;; s1[c] += x - pivot[c], s2[c] += (x - pivot[c])^2 (the caller combines them per group in float64).
  (func (export "gn_moments") (param $x i32) (param $HW i32) (param $C i32) (param $pivot i32) (param $s1 i32) (param $s2 i32)
    (local $p i32) (local $c i32) (local $co i32) (local $row i32) (local $d v128)
    (block $dp (loop $lp
      (br_if $dp (i32.ge_s (local.get $p) (local.get $HW)))
      (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p) (local.get $C)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_s (local.get $c) (local.get $C)))
        (local.set $co (i32.shl (local.get $c) (i32.const 2)))
        (local.set $d (f32x4.sub (v128.load (i32.add (local.get $row) (local.get $co))) (v128.load (i32.add (local.get $pivot) (local.get $co)))))
        (v128.store (i32.add (local.get $s1) (local.get $co)) (f32x4.add (v128.load (i32.add (local.get $s1) (local.get $co))) (local.get $d)))
        (v128.store (i32.add (local.get $s2) (local.get $co)) (f32x4.add (v128.load (i32.add (local.get $s2) (local.get $co))) (f32x4.mul (local.get $d) (local.get $d))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp)))
  )

  ;; GroupNorm forward, the affine map of one batch item: z = x scale[c] + shift[c].
  (func (export "gn_affine") (param $x i32) (param $z i32) (param $HW i32) (param $C i32) (param $scale i32) (param $shift i32)
    (local $p i32) (local $c i32) (local $co i32) (local $off i32)
    (block $dp (loop $lp
      (br_if $dp (i32.ge_s (local.get $p) (local.get $HW)))
      (local.set $c (i32.const 0))
      (block $dc (loop $lc
        (br_if $dc (i32.ge_s (local.get $c) (local.get $C)))
        (local.set $co (i32.shl (local.get $c) (i32.const 2)))
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $p) (local.get $C)) (local.get $c)) (i32.const 2)))
        (v128.store (i32.add (local.get $z) (local.get $off))
          (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $off))) (v128.load (i32.add (local.get $scale) (local.get $co))))
            (v128.load (i32.add (local.get $shift) (local.get $co)))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $lc)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp)))
  )

  ;; Filter gradient of a 2-D convolution (NHWC, dilation 1), accumulated tap by tap as products
  ;; with A transposed: dw[i][j][ci][co] = sum_{b, oh, ow} x[b][oh*sh + i - padT][ow*sw + j - padL][ci] dy[b][oh][ow][co],
  ;; over the (oh, ow) whose input pixel lies inside x (zero padding adds nothing). Cin and Cout are
  ;; multiples of 4. Tiles of 4 input x 8 (then 4) output channels stay in registers over a chunk of
  ;; bChunk images (so the chunk's x and dy stay in cache across tiles); dw is zeroed first, then
  ;; each chunk adds its sums. Also the weight gradient of a dense layer, A^T B: x = A as [1, 1, K, M].
  (func (export "conv_dw")
    (param $x i32) (param $dy i32) (param $dw i32)
    (param $Bn i32) (param $H i32) (param $W i32) (param $Cin i32)
    (param $OH i32) (param $OW i32) (param $Cout i32)
    (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $padT i32) (param $padL i32) (param $bChunk i32)
    (local $b0 i32) (local $b1 i32) (local $i i32) (local $j i32) (local $lo i32) (local $hi i32)
    (local $m i32) (local $n i32) (local $b i32) (local $oh i32) (local $ih i32)
    (local $qa i32) (local $qb i32) (local $pc i32) (local $cnt i32) (local $astep i32) (local $cs i32) (local $p i32) (local $end i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $v0 v128) (local $v1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    ;; dw = 0
    (local.set $p (local.get $dw))
    (local.set $end (i32.add (local.get $dw) (i32.shl (i32.mul (i32.mul (local.get $kh) (local.get $kw)) (i32.mul (local.get $Cin) (local.get $Cout))) (i32.const 2))))
    (block $dz (loop $lz
      (br_if $dz (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $lz)))
    (local.set $astep (i32.shl (i32.mul (local.get $sw) (local.get $Cin)) (i32.const 2)))
    (local.set $cs (i32.shl (local.get $Cout) (i32.const 2)))
    (block $dc (loop $lc
      (br_if $dc (i32.ge_s (local.get $b0) (local.get $Bn)))
      (local.set $b1 (i32.add (local.get $b0) (local.get $bChunk)))
      (if (i32.gt_s (local.get $b1) (local.get $Bn)) (then (local.set $b1 (local.get $Bn))))
      (local.set $i (i32.const 0))
      (block $di (loop $li
        (br_if $di (i32.ge_s (local.get $i) (local.get $kh)))
        (local.set $j (i32.const 0))
        (block $dj (loop $lj
          (br_if $dj (i32.ge_s (local.get $j) (local.get $kw)))
          ;; the output columns whose input column lo*sw + j - padL lies in [0, W)
          (local.set $lo (i32.const 0))
          (block $dlo (loop $llo
            (br_if $dlo (i32.ge_s (local.get $lo) (local.get $OW)))
            (br_if $dlo (i32.ge_s (i32.sub (i32.add (i32.mul (local.get $lo) (local.get $sw)) (local.get $j)) (local.get $padL)) (i32.const 0)))
            (local.set $lo (i32.add (local.get $lo) (i32.const 1)))
            (br $llo)))
          (local.set $hi (local.get $OW))
          (block $dhi (loop $lhi
            (br_if $dhi (i32.le_s (local.get $hi) (local.get $lo)))
            (br_if $dhi (i32.lt_s (i32.sub (i32.add (i32.mul (i32.sub (local.get $hi) (i32.const 1)) (local.get $sw)) (local.get $j)) (local.get $padL)) (local.get $W)))
            (local.set $hi (i32.sub (local.get $hi) (i32.const 1)))
            (br $lhi)))
          (if (i32.lt_s (local.get $lo) (local.get $hi)) (then
          (local.set $m (i32.const 0))
          (block $dm (loop $lm
            (br_if $dm (i32.ge_s (local.get $m) (local.get $Cin)))
            (local.set $n (i32.const 0))
            (block $dn8 (loop $ln8
              (br_if $dn8 (i32.gt_s (i32.add (local.get $n) (i32.const 8)) (local.get $Cout)))
              (local.set $pc (i32.add (local.get $dw) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $Cin)) (local.get $m)) (local.get $Cout)) (local.get $n)) (i32.const 2))))

          (local.set $c00 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 0) (local.get $cs)))))
          (local.set $c01 (v128.load offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 0) (local.get $cs)))))
          (local.set $c10 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 1) (local.get $cs)))))
          (local.set $c11 (v128.load offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 1) (local.get $cs)))))
          (local.set $c20 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 2) (local.get $cs)))))
          (local.set $c21 (v128.load offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 2) (local.get $cs)))))
          (local.set $c30 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 3) (local.get $cs)))))
          (local.set $c31 (v128.load offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 3) (local.get $cs)))))
          (local.set $b (local.get $b0))
          (block $db8 (loop $lb8
            (br_if $db8 (i32.ge_s (local.get $b) (local.get $b1)))
            (local.set $oh (i32.const 0))
            (block $do8 (loop $lo8
              (br_if $do8 (i32.ge_s (local.get $oh) (local.get $OH)))
              (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
                (then
                  ;; x[b, ih, lo*sw + j - padL, m], dy[b, oh, lo, n]
                  (local.set $qa (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W))
                    (i32.sub (i32.add (i32.mul (local.get $lo) (local.get $sw)) (local.get $j)) (local.get $padL))) (local.get $Cin)) (local.get $m)) (i32.const 2))))
                  (local.set $qb (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $lo)) (local.get $Cout)) (local.get $n)) (i32.const 2))))
                  (local.set $cnt (i32.sub (local.get $hi) (local.get $lo)))
                  (block $dk8 (loop $lk8
                  (br_if $dk8 (i32.eqz (local.get $cnt)))
                  (local.set $s0 (v128.load32_splat (local.get $qa)))
                  (local.set $s1 (v128.load32_splat offset=4 (local.get $qa)))
                  (local.set $s2 (v128.load32_splat offset=8 (local.get $qa)))
                  (local.set $s3 (v128.load32_splat offset=12 (local.get $qa)))
                  (local.set $v0 (v128.load offset=0 (local.get $qb)))
                  (local.set $v1 (v128.load offset=16 (local.get $qb)))
                  (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s0) (local.get $v0))))
                  (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s0) (local.get $v1))))
                  (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s1) (local.get $v0))))
                  (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s1) (local.get $v1))))
                  (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s2) (local.get $v0))))
                  (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s2) (local.get $v1))))
                  (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s3) (local.get $v0))))
                  (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s3) (local.get $v1))))
                  (local.set $qa (i32.add (local.get $qa) (local.get $astep)))
                  (local.set $qb (i32.add (local.get $qb) (local.get $cs)))
                  (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))
                  (br $lk8)))))
              (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
              (br $lo8)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $lb8)))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 0) (local.get $cs))) (local.get $c00))
          (v128.store offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 0) (local.get $cs))) (local.get $c01))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 1) (local.get $cs))) (local.get $c10))
          (v128.store offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 1) (local.get $cs))) (local.get $c11))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 2) (local.get $cs))) (local.get $c20))
          (v128.store offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 2) (local.get $cs))) (local.get $c21))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 3) (local.get $cs))) (local.get $c30))
          (v128.store offset=16 (i32.add (local.get $pc) (i32.mul (i32.const 3) (local.get $cs))) (local.get $c31))
              (local.set $n (i32.add (local.get $n) (i32.const 8)))
              (br $ln8)))
            (if (i32.le_s (i32.add (local.get $n) (i32.const 4)) (local.get $Cout)) (then
              (local.set $pc (i32.add (local.get $dw) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $Cin)) (local.get $m)) (local.get $Cout)) (local.get $n)) (i32.const 2))))

          (local.set $c00 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 0) (local.get $cs)))))
          (local.set $c10 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 1) (local.get $cs)))))
          (local.set $c20 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 2) (local.get $cs)))))
          (local.set $c30 (v128.load offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 3) (local.get $cs)))))
          (local.set $b (local.get $b0))
          (block $db4 (loop $lb4
            (br_if $db4 (i32.ge_s (local.get $b) (local.get $b1)))
            (local.set $oh (i32.const 0))
            (block $do4 (loop $lo4
              (br_if $do4 (i32.ge_s (local.get $oh) (local.get $OH)))
              (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
                (then
                  ;; x[b, ih, lo*sw + j - padL, m], dy[b, oh, lo, n]
                  (local.set $qa (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W))
                    (i32.sub (i32.add (i32.mul (local.get $lo) (local.get $sw)) (local.get $j)) (local.get $padL))) (local.get $Cin)) (local.get $m)) (i32.const 2))))
                  (local.set $qb (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $lo)) (local.get $Cout)) (local.get $n)) (i32.const 2))))
                  (local.set $cnt (i32.sub (local.get $hi) (local.get $lo)))
                  (block $dk4 (loop $lk4
                  (br_if $dk4 (i32.eqz (local.get $cnt)))
                  (local.set $s0 (v128.load32_splat (local.get $qa)))
                  (local.set $s1 (v128.load32_splat offset=4 (local.get $qa)))
                  (local.set $s2 (v128.load32_splat offset=8 (local.get $qa)))
                  (local.set $s3 (v128.load32_splat offset=12 (local.get $qa)))
                  (local.set $v0 (v128.load offset=0 (local.get $qb)))
                  (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s0) (local.get $v0))))
                  (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s1) (local.get $v0))))
                  (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s2) (local.get $v0))))
                  (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s3) (local.get $v0))))
                  (local.set $qa (i32.add (local.get $qa) (local.get $astep)))
                  (local.set $qb (i32.add (local.get $qb) (local.get $cs)))
                  (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))
                  (br $lk4)))))
              (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
              (br $lo4)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $lb4)))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 0) (local.get $cs))) (local.get $c00))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 1) (local.get $cs))) (local.get $c10))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 2) (local.get $cs))) (local.get $c20))
          (v128.store offset=0 (i32.add (local.get $pc) (i32.mul (i32.const 3) (local.get $cs))) (local.get $c30))))
            (local.set $m (i32.add (local.get $m) (i32.const 4)))
            (br $lm)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $lj)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $li)))
      (local.set $b0 (local.get $b1))
      (br $lc)))
  )
)
