"""The training path of the encoder: T unrolled FISTA steps with a hand-written backward (the adjoint recurrence).

Same math as ``crsae.model.fista.unrolled_fista`` (docs/math.md, "Encoder"); only the arithmetic is arranged for
speed when gradients are needed. ``unrolled_fista`` stays the inference and export path (its ONNX graph and values
are unchanged); ``Trainer`` uses this one.

Forward (k = 1..T, x_0 = 0, z_1 = 0, A r = (1/L) We^T r the analysis, S z = H z the synthesis)::

    r_k = y - S z_k                   (r_1 = y)
    u_k = z_k + A r_k
    x_k = theta(u_k)                  two-sided: u - clip(u, -b, b); one-sided: relu(u - b)
    z_{k+1} = (1 + m_k) x_k - m_k x_{k-1},   m_k = (t_k - 1) / t_{k+1}  (m_1 = 0)

Backward, given g = dloss/dx_T. The step is linear in (z, y) except for theta, whose derivative is the mask
D_k = [x_k != 0] (|u| > b, or u > b; at the measure-zero ties |u| = b autograd's max/min would split 1/2, here the
subgradient 0 is taken). With adjoints xbar_k = dloss/dx_k, ubar_k, zbar_k::

    xbar_k = [k = T] g + (1 + m_k) zbar_{k+1} - m_{k+1} zbar_{k+2}        (zbar_j = 0 for j > T, z_{T+1} unused)
    ubar_k = D_k xbar_k
    rbar_k = A^T ubar_k = (1/L) We ubar_k                                  (a synthesis with the analysis filters)
    zbar_k = ubar_k - S^T rbar_k = ubar_k - H^T rbar_k                     (k >= 2; z_1 = 0 is a constant)

and the parameter gradients, sums over the steps of the convolutions' weight gradients ``corr(signal, codes)``,
``G[c, ch, p] = sum_n codes[c, n] signal[ch, s n + p]``::

    d/d(We/L) = sum_k corr(r_k, ubar_k)
    d/dH      = - sum_{k>=2} corr(rbar_k, z_k)      (the encoder's synthesis; the decoder adds its own term)
    d/db_c    = - sum_k sum_n ubar_k[c, n] sign(x_k[c, n])     (two-sided; one-sided: - sum_k sum_n ubar_k[c, n])
    d/dy      = sum_k rbar_k

b is ``lam sigma^2 / L`` or the free bias; autograd carries d/db on to lambda or the bias, and d/d(We/L) to We (or
to H when tied, where it adds to the synthesis term). Only x_k (D_k and sign follow from it), z_k and the residuals
r_k (signal-sized, C times smaller; 2-D: as the patch matrix the forward built anyway) are kept, instead of the
~10 code-sized intermediates per step that autograd keeps through the threshold's max/min.

The convolutions: 2-D with stride s > 1 runs as matrix products on patches (``_Patches2d``: im2col, GEMM,
overlap-add by the ceil(K/s)^2 polyphase blocks), not as mkldnn's one-input-channel strided kernels; codes are then
held channels-last, (B, Hc, Wc, C) as an (N, C) matrix, and returned to the caller as a (B, C, Hc, Wc) view. 1-D
runs as matrix products on blocks of codes (``_Blocks1d``: a banded Toeplitz matrix, not the per-tap 1-channel
kernels torch picks for K x 1 filters); 2-D stride 1 uses torch's convolutions (``_Convs``).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from crsae.model.fista import analysis as conv_analysis, momentum_schedule, synthesis as conv_synthesis, unrolled_fista


class _Ops:
    """The convolutions and layouts the training encoder runs on (``_Convs``, ``_Patches2d``, ``_Blocks1d``)."""

    bshape = (-1,)

    def thresholds(self, b):                               # b (C,) -> broadcastable over the internal codes
        return b.reshape(self.bshape)

    def threshold_(self, u, bb, two_sided: bool, work=None):
        """theta(u) in place: two-sided u - clip(u, -b, b), one-sided relu(u - b); ``work``: a buffer like u."""
        if two_sided:
            return u.sub_(torch.clamp(u, -bb, bb) if work is None else torch.clamp(u, -bb, bb, out=work))
        return u.sub_(bb).clamp_(min=0)


class _Convs(_Ops):
    """Convolutions through torch (mkldnn), codes in the standard layout (B, C, *code)."""

    def __init__(self, y_shape, W_shape, stride: int):
        self.stride, self.W_shape, self.size = stride, tuple(W_shape), tuple(y_shape[2:])
        self.nd = len(W_shape) - 2
        self.bshape = (1, -1) + (1,) * self.nd

    def signal(self, y):
        return y

    def signal_grad(self, gy):
        return gy

    def codes(self, x):                                    # standard layout -> internal (the same here)
        return x.contiguous()

    def to_standard(self, x):
        return x

    def weight(self, W):
        return W

    def prep(self, sig, out=None):
        return sig

    def analysis(self, P, W, add=None, alpha: float = 1.0, scale: float = 1.0, out=None):
        """scale (add + alpha A_W sig); ``out`` (a buffer to reuse) is ignored here."""
        out = conv_analysis(P, W, self.stride)
        if add is None:
            return out if alpha * scale == 1.0 else out.mul_(alpha * scale)
        if scale == 1.0:
            return out.mul_(alpha).add_(add) if alpha != 1.0 else out.add_(add)
        return out.mul_(alpha * scale).add_(add, alpha=scale)

    def synthesis(self, x, W, base=None, out=None, work=None):
        """base - S_W x, or S_W x; the buffers ``out``, ``work`` are ignored here."""
        out = conv_synthesis(x, W, self.size, self.stride)
        return out if base is None else torch.sub(base, out)

    def weight_grad(self, P, x, acc, alpha: float = 1.0):
        """acc + alpha corr(sig, x), (C, ch, K[, K])."""
        shape = self.W_shape if self.nd == 2 else self.W_shape[:2] + (1,) + self.W_shape[2:]
        weight = torch.empty(shape, dtype=x.dtype, device=x.device)   # only its shape is read
        if self.nd == 1:                                   # as the unit-height 2-D problem (torch does the same)
            g = torch.ops.aten.convolution_backward(x.unsqueeze(2), P.unsqueeze(2), weight, None, [1, 1], [0, 0],
                                                    [1, 1], False, [0, 0], 1, [False, True, False])[1]
            g = g.view(self.W_shape)
        else:
            s = [self.stride] * 2
            g = torch.ops.aten.convolution_backward(x, P, weight, None, s, [0, 0], [1, 1], False, [0, 0], 1,
                                                    [False, True, False])[1]
        if acc is None:
            return g if alpha == 1.0 else g.mul_(alpha)
        return acc.add_(g, alpha=alpha)

    def weight_grad_out(self, g):
        return g

    def per_filter_sum(self, x):                           # (B, C, *code) -> (C,)
        return x.sum(dim=(0,) + tuple(range(2, x.dim())))


class _Matmul(_Ops):
    """Convolutions as matrix products: the signal ``prep``-ared into rows of samples (patches, blocks), codes an
    (rows, columns) matrix, ``weight(W)`` the (code columns, sample columns) matrix; analysis ``P Wm^T``, synthesis
    ``x Wm`` then an overlap-add, weight gradient ``x^T P``."""

    def analysis(self, P, Wm, add=None, alpha: float = 1.0, scale: float = 1.0, out=None):
        """scale (add + alpha P Wm^T); ``out``: a buffer to write (reused buffers spare the page faults of fresh
        allocations, which cost 10x the arithmetic of an element-wise pass here)."""
        if add is None:
            out = P @ Wm.t()
            return out if alpha * scale == 1.0 else out.mul_(alpha * scale)
        if out is None:
            return torch.addmm(add, P, Wm.t(), beta=scale, alpha=alpha * scale)
        return torch.addmm(add, P, Wm.t(), beta=scale, alpha=alpha * scale, out=out)

    def weight_grad(self, P, x, acc, alpha: float = 1.0):
        if acc is None:
            out = x.t() @ P
            return out if alpha == 1.0 else out.mul_(alpha)
        return acc.addmm_(x.t(), P, alpha=alpha)


class _Blocks1d(_Matmul):
    """1-D convolutions as matrix products on blocks: P consecutive codes of a filter depend on a block of
    P + K - 1 samples, so the codes are the (B nb, C P) matrix ``blocks(y) @ Toeplitz(W)^T``, with ``blocks(y)``
    the (B nb, ch (P + K - 1)) matrix of overlapping sample blocks at stride P (about 1 + K / P times the signal,
    instead of im2col's K times) and the (C P, ch (P + K - 1)) banded Toeplitz matrix of the filters. The
    M = N - K + 1 codes are padded to nb P, the padded codes held at zero by an infinite threshold. Synthesis
    overlap-adds the blocks' products. P = 16: a 1-D spike step took 3.6 s against 3.9 (P = 32), 4.3 (8), 4.9 (64)
    on a loaded machine."""

    def __init__(self, y_shape, W_shape, block: int = 16):
        B, ch, N = y_shape
        C, _, K = W_shape
        P = block
        self.B, self.ch, self.C, self.K, self.P, self.N = B, ch, C, K, P, N
        self.M = N - K + 1
        self.nb = -(-self.M // P)
        self.Lb = P + K - 1
        self.nA = -(-self.Lb // P)
        self.Nbuf = (self.nb + self.nA - 1) * P
        self.W_shape = tuple(W_shape)

    def thresholds(self, b):                               # (nb, C P): b, and +inf on the padded codes
        bb = b.reshape(1, -1, 1).expand(self.nb, self.C, self.P).clone()      # (nb, C, P)
        pad = self.nb * self.P - self.M
        if pad:
            bb[-1, :, self.P - pad:] = float("inf")
        return bb.view(self.nb, self.C * self.P)

    def threshold_(self, u, bb, two_sided: bool, work=None):
        view = (self.B, self.nb, self.C * self.P)
        super().threshold_(u.view(view), bb, two_sided, None if work is None else work.view(view))
        return u

    def signal(self, y):
        return F.pad(y, (0, self.Nbuf - self.N)).contiguous()

    def signal_grad(self, gy):
        return gy[..., :self.N]

    def codes(self, x):                                    # (B, C, M) -> (B nb, C P)
        x = F.pad(x, (0, self.nb * self.P - self.M)).view(self.B, self.C, self.nb, self.P)
        return x.permute(0, 2, 1, 3).reshape(self.B * self.nb, self.C * self.P)

    def to_standard(self, x):                              # (B nb, C P) -> (B, C, M)
        x = x.view(self.B, self.nb, self.C, self.P).permute(0, 2, 1, 3).reshape(self.B, self.C, -1)
        return x[..., :self.M]

    def weight(self, W):
        """(C, ch, K) -> the (C P, ch (P + K - 1)) matrix T[(c, j), (ch, t)] = W[c, ch, t - j]."""
        P, Lb, K = self.P, self.Lb, self.K
        V = F.pad(W, (P - 1, Lb - K))                                   # V[q] = W[q - (P - 1)]
        T = V.unfold(-1, Lb, 1).flip(-2)                                # (C, ch, P, Lb): T[j, t] = V[t + P - 1 - j]
        return T.permute(0, 2, 1, 3).reshape(self.C * P, self.ch * Lb)

    def weight_grad_out(self, g):
        """(C P, ch (P + K - 1)) -> (C, ch, K): gW[c, ch, p] = sum_j g[(c, j), (ch, j + p)]."""
        g = g.contiguous()
        sCj, sCt = g.stride()
        P, Lb = self.P, self.Lb
        diag = g.as_strided((self.C, self.ch, P, self.K), (P * sCj, Lb * sCt, sCj + sCt, sCt))
        return diag.sum(dim=2)

    def per_filter_sum(self, x):                           # (B nb, C P) -> (C,)
        return x.view(-1, self.C, self.P).sum(dim=(0, 2))

    def prep(self, sig, out=None):
        """(B, ch, Nbuf) -> (B nb, ch (P + K - 1)) overlapping blocks at stride P."""
        sB, sC, sN = sig.stride()
        blocks = sig.as_strided((self.B, self.nb, self.ch, self.Lb), (sB, self.P * sN, sC, sN))
        if out is None:              # always a copy: a reshape may be a view of sig, whose buffer is reused
            out = sig.new_empty((self.B * self.nb, self.ch * self.Lb))
        out.view(blocks.shape).copy_(blocks)
        return out

    def synthesis(self, x, Wm, base=None, out=None, work=None):
        P, nb, nA = self.P, self.nb, self.nA
        prods = (x @ Wm if work is None else torch.mm(x, Wm, out=work))
        prods = prods.view(self.B, nb, self.ch, self.Lb).permute(0, 2, 1, 3)   # (B, ch, nb, Lb)
        if out is None:
            out = torch.empty((self.B, self.ch, self.Nbuf), dtype=x.dtype, device=x.device)
        tiles = out.view(self.B, self.ch, nb + nA - 1, P)
        if base is None:
            tiles[:, :, :nb].copy_(prods[..., :P])
            tiles[:, :, nb:].zero_()
        else:
            base_tiles = base.view(tiles.shape)
            torch.sub(base_tiles[:, :, :nb], prods[..., :P], out=tiles[:, :, :nb])
            tiles[:, :, nb:].copy_(base_tiles[:, :, nb:])
        for a in range(1, nA):
            pa = min(P, self.Lb - a * P)
            dst = tiles[:, :, a:a + nb, :pa]
            src = prods[..., a * P:a * P + pa]
            if base is None:
                dst.add_(src)
            else:
                dst.sub_(src)
        return out


class _Patches2d(_Matmul):
    """2-D strided convolutions as matrix products on patches; codes channels-last, an (N, C) matrix.

    Analysis: ``im2col(r) @ W^T`` with ``im2col`` the (N, ch K K) matrix of the K x K patches at stride s.
    Synthesis: ``x @ W`` gives every code's (ch, K, K) patch; patches overlap-add into a buffer of
    (Hc + nA - 1) s rows (nA = ceil(K / s)), viewed as (Hc + nA - 1, s) blocks so each of the nA^2 polyphase
    blocks of the patch (rows s a .. s a + s - 1) adds as one strided tensor operation.
    """

    def __init__(self, y_shape, W_shape, stride: int):
        B, ch, Hh, Ww = y_shape
        C, _, K, _ = W_shape
        s = stride
        self.B, self.ch, self.C, self.K, self.s, self.size = B, ch, C, K, s, (Hh, Ww)
        self.Hc, self.Wc = (Hh - K) // s + 1, (Ww - K) // s + 1
        self.nA = -(-K // s)
        self.Hb, self.Wb = (self.Hc + self.nA - 1) * s, (self.Wc + self.nA - 1) * s
        self.N = B * self.Hc * self.Wc
        self.bshape = (-1,)
        self.W_shape = tuple(W_shape)

    def signal(self, y):                                   # (B, ch, Hh, Ww) -> (B, ch, Hb, Wb), cropped / zero-padded
        Hh, Ww = self.size
        return F.pad(y, (0, self.Wb - Ww, 0, self.Hb - Hh)).contiguous()

    def signal_grad(self, gy):
        Hh, Ww = self.size
        return F.pad(gy, (0, Ww - self.Wb, 0, Hh - self.Hb))

    def codes(self, x):                                    # (B, C, Hc, Wc) -> (N, C)
        return x.permute(0, 2, 3, 1).reshape(self.N, self.C)

    def to_standard(self, x):                              # (N, C) -> (B, C, Hc, Wc) view
        return x.view(self.B, self.Hc, self.Wc, self.C).permute(0, 3, 1, 2)

    def weight(self, W):                                   # (C, ch, K, K) -> (C, ch K K)
        return W.reshape(self.C, -1)

    def weight_grad_out(self, g):
        return g.view(self.W_shape)

    def per_filter_sum(self, x):                           # (N, C) -> (C,)
        return x.sum(dim=0)

    def prep(self, sig, out=None):
        """im2col: (B, ch, Hb, Wb) -> (N, ch K K)."""
        sB, sC, sH, sW = sig.stride()
        s, K = self.s, self.K
        patches = sig.as_strided((self.B, self.Hc, self.Wc, self.ch, K, K), (sB, s * sH, s * sW, sC, sH, sW))
        if out is None:              # always a copy: a reshape may be a view of sig, whose buffer is reused
            out = sig.new_empty((self.N, self.ch * K * K))
        out.view(patches.shape).copy_(patches)
        return out

    def synthesis(self, x, Wm, base=None, out=None, work=None):
        s, K, nA = self.s, self.K, self.nA
        Hc, Wc = self.Hc, self.Wc
        patches = (x @ Wm if work is None else torch.mm(x, Wm, out=work)).view(self.B, Hc, Wc, self.ch, K, K)
        if out is None:
            out = torch.empty((self.B, self.ch, self.Hb, self.Wb), dtype=x.dtype, device=x.device)
        blocks = out.view(self.B, self.ch, Hc + nA - 1, s, Wc + nA - 1, s)
        # block (0, 0), a full s x s tile (s <= K), covers each of the first Hc x Wc tiles once: written, not added
        first = patches[:, :, :, :, :s, :s].permute(0, 3, 1, 4, 2, 5)
        if base is None:
            blocks[:, :, :Hc, :, :Wc, :].copy_(first)
            blocks[:, :, Hc:].zero_()
            blocks[:, :, :Hc, :, Wc:].zero_()
        else:
            base_blocks = base.view(blocks.shape)
            torch.sub(base_blocks[:, :, :Hc, :, :Wc, :], first, out=blocks[:, :, :Hc, :, :Wc, :])
            blocks[:, :, Hc:].copy_(base_blocks[:, :, Hc:])
            blocks[:, :, :Hc, :, Wc:].copy_(base_blocks[:, :, :Hc, :, Wc:])
        for a in range(nA):
            pa = min(s, K - s * a)
            for c in range(nA):
                if a == 0 and c == 0:
                    continue
                pc = min(s, K - s * c)
                src = patches[:, :, :, :, s * a:s * a + pa, s * c:s * c + pc].permute(0, 3, 1, 4, 2, 5)
                dst = blocks[:, :, a:a + Hc, :pa, c:c + Wc, :pc]
                if base is None:
                    dst.add_(src)
                else:
                    dst.sub_(src)
        return out


def _ops(y_shape, W_shape, stride: int):
    if len(W_shape) == 4 and stride > 1:
        return _Patches2d(y_shape, W_shape, stride)
    if len(W_shape) == 3:
        return _Blocks1d(y_shape, W_shape)
    return _Convs(y_shape, W_shape, stride)


class _UnrolledFista(torch.autograd.Function):
    """x_T of ``unrolled_fista``, differentiable in (y, H, We_L, b) by the adjoint recurrence (module docstring)."""

    @staticmethod
    def forward(ctx, y, H, We_L, b, num_layers: int, stride: int, two_sided: bool):
        ops = _ops(y.shape, H.shape, stride)
        Hm, Wm, bb = ops.weight(H), ops.weight(We_L), ops.thresholds(b)
        mom = momentum_schedule(num_layers)
        yb = ops.signal(y)
        xs, zs, ps = [], [None], [ops.prep(yb)]                      # x_k, z_k, r_k prepared (2-D: patches)
        x_prev = z = None
        r_buf = work = clamp_buf = None                              # temporaries, reused from step to step
        for k in range(num_layers):
            if k == 0:
                u = ops.analysis(ps[0], Wm)
            else:
                r_buf = ops.synthesis(z, Hm, base=yb, out=r_buf, work=work)   # r_k = y - H z_k
                ps.append(ops.prep(r_buf))
                u = ops.analysis(ps[k], Wm, add=z)                   # u_k = z_k + (1/L) We^T r_k
                if work is None and isinstance(ops, _Matmul):
                    work = torch.empty_like(ps[k])
            if clamp_buf is None and two_sided:
                clamp_buf = torch.empty_like(u)
            x = ops.threshold_(u, bb, two_sided, clamp_buf)
            if k + 1 < num_layers:
                z = x if k == 0 else torch.lerp(x_prev, x, 1.0 + mom[k])   # x + m (x - x_prev)
                zs.append(z)
            xs.append(x)
            x_prev = x
        ctx.ops, ctx.mom, ctx.two_sided = ops, mom, two_sided
        ctx.xs, ctx.zs, ctx.ps = xs, zs, ps
        ctx.save_for_backward(H, We_L, b)
        return ops.to_standard(x)

    @staticmethod
    def backward(ctx, g):
        ops, mom, two_sided, xs, ps = ctx.ops, ctx.mom, ctx.two_sided, ctx.xs, ctx.ps
        H, We_L, b = ctx.saved_tensors
        need_y, need_H, need_W, need_b = ctx.needs_input_grad[:4]
        Hm, Wm = ops.weight(H), ops.weight(We_L)
        T = len(xs)
        g = ops.codes(g)
        gy = gH = gW = gb = None
        q1 = q2 = None                              # q_j = (1 + m_{j-1}) zbar_j for j = k + 1, k + 2
        # code-sized buffers reused by every step: fresh allocations would page-fault (10x a pass's arithmetic)
        sign, ubar, xbar_buf = (torch.empty_like(xs[0]) for _ in range(3))
        qbufs = (torch.empty_like(xs[0]), torch.empty_like(xs[0]))
        rbar_buf = work = P_buf = None
        for k in range(T - 1, -1, -1):
            x = xs[k]
            if k == T - 1:
                xbar = g
            elif k + 2 > T - 1:
                xbar = q1
            else:                                                    # (1 + m_k) zbar_{k+1} - m_{k+1} zbar_{k+2}
                xbar = torch.add(q1, q2, alpha=-mom[k + 1] / (1.0 + mom[k + 1]), out=xbar_buf)
            torch.sign(x, out=sign)
            if two_sided:
                torch.mul(xbar, sign, out=ubar)
                if need_b:
                    gb_k = ops.per_filter_sum(ubar)
                    gb = -gb_k if gb is None else gb.sub_(gb_k)
                ubar.mul_(sign)                                      # xbar D_k (sign^2 = D_k)
            else:
                torch.mul(xbar, sign, out=ubar)                      # x >= 0: sign = D_k
                if need_b:
                    gb_k = ops.per_filter_sum(ubar)
                    gb = -gb_k if gb is None else gb.sub_(gb_k)
            if need_W:
                gW = ops.weight_grad(ps[k], ubar, gW)                # += corr(r_k, ubar_k)
            if k == 0 and not need_y:
                break
            rbar_buf = rbar = ops.synthesis(ubar, Wm, out=rbar_buf, work=work)   # (1/L) We ubar_k
            if need_y:
                gy = rbar.clone() if gy is None else gy.add_(rbar)
            if k == 0:
                break
            P_buf = P = ops.prep(rbar, out=P_buf)
            if work is None and isinstance(ops, _Matmul):
                work = torch.empty_like(P)
            q = ops.analysis(P, Hm, add=ubar, alpha=-1.0, scale=1.0 + mom[k - 1],
                             out=qbufs[1] if q1 is qbufs[0] else qbufs[0])   # zbar_k = ubar_k - H^T rbar_k
            if need_H:
                z = ctx.zs[k]
                gH = ops.weight_grad(P, z, gH, alpha=-1.0)           # -= corr(rbar_k, z_k)
            q1, q2 = q, q1
        ctx.xs = ctx.zs = ctx.ps = None
        out_y = ops.signal_grad(gy) if gy is not None else None
        out_H = ops.weight_grad_out(gH) if gH is not None else (torch.zeros_like(H) if need_H else None)
        out_W = ops.weight_grad_out(gW) if gW is not None else None
        out_b = gb.reshape(b.shape) if gb is not None else None
        return out_y, out_H, out_W, out_b, None, None, None


class _Synthesis(torch.autograd.Function):
    """The decoder H x (``crsae.model.fista.synthesis``) on the same convolutions as the training encoder."""

    @staticmethod
    def forward(ctx, x, W, size, stride: int):
        ops = _ops((x.shape[0], W.shape[1]) + tuple(size), W.shape, stride)
        xi = ops.codes(x)
        out = ops.synthesis(xi, ops.weight(W))
        ctx.ops = ops
        ctx.save_for_backward(x, W)
        return ops.signal_grad(out)

    @staticmethod
    def backward(ctx, g):
        ops = ctx.ops
        x, W = ctx.saved_tensors
        P = ops.prep(ops.signal(g))
        gx = gW = None
        if ctx.needs_input_grad[0]:
            gx = ops.to_standard(ops.analysis(P, ops.weight(W)))
        if ctx.needs_input_grad[1]:
            gW = ops.weight_grad_out(ops.weight_grad(P, ops.codes(x), None))
        return gx, gW, None, None


def unrolled_fista_train(y: torch.Tensor, H: torch.Tensor, We: torch.Tensor, b: torch.Tensor,
                         L: float | torch.Tensor, num_layers: int, *, stride: int = 1,
                         two_sided: bool = True) -> torch.Tensor:
    """``crsae.model.fista.unrolled_fista`` (same arguments, same values up to float rounding) with the
    hand-written backward. Returns x_T, (B, C, *code); for 2-D stride > 1 a view of channels-last storage."""
    if y.shape[0] == 0:          # an empty batch (a distributed run's empty last shard): nothing to arrange
        return unrolled_fista(y, H, We, b, L, num_layers, stride=stride, two_sided=two_sided)
    return _UnrolledFista.apply(y, H, We / L, b, int(num_layers), int(stride), bool(two_sided))


def synthesis_train(x: torch.Tensor, W: torch.Tensor, size, stride: int = 1) -> torch.Tensor:
    """``crsae.model.fista.synthesis`` on the training path's convolutions."""
    if x.shape[0] == 0:          # an empty batch, as in unrolled_fista_train
        return conv_synthesis(x, W, size, stride)
    return _Synthesis.apply(x, W, tuple(size), int(stride))
