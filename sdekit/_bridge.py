r"""The Brownian bridge with space-time Lévy area: the arithmetic of one split, written once.

For an interval of length :math:`h` let :math:`w = W_{s,t}` be the increment and

.. math:: H = \frac1h\int_s^t \Big(W_u - W_s - \frac{u-s}{h}\,w\Big)\,du

the space-time Lévy area. :math:`w \sim N(0, h)` and :math:`H \sim N(0, h/12)` are
independent, and for disjoint intervals the pairs are independent.

**Chen's relation.** Cut the interval at :math:`s + h_1` (:math:`h_1 + h_2 = h`) with
pieces :math:`(w_1, H_1)` and :math:`(w_2, H_2)`. Writing :math:`\int W` over each piece as
:math:`h_i (H_i + \text{chord mean})` gives

.. math:: w = w_1 + w_2,\qquad h H = h_1 H_1 + h_2 H_2 + \tfrac12 (w_1 h_2 - w_2 h_1).

**Splitting.** Conditioning the four independent Gaussians on these two linear
constraints (their images are uncorrelated: :math:`\mathrm{Var}\,w = h`,
:math:`\mathrm{Var}\,H = h/12`), with :math:`f = h_1/h`, :math:`g = 1 - f`:

.. math::
    E[w_1] = f w + 6 f g H,\quad E[H_1] = f^2 H,\quad
    \mathrm{Var}\,w_1 = f g (1 - 3fg)\,h,\quad
    \mathrm{Cov}(w_1, H_1) = -\tfrac12 f^3 g\,h,\quad
    \mathrm{Var}\,H_1 = \tfrac{1}{12} f g (1 + f + f^2)\,h,

sampled through the Cholesky factor with two standard normals :math:`(z_1, z_2)`:
:math:`L_{11} = \sqrt{fg(1-3fg)h}`, :math:`L_{21} = \mathrm{Cov}/L_{11}`,
:math:`L_{22} = \sqrt{f g^3 h / (12(1 - 3fg))}`; then :math:`(w_2, H_2)` follow from
Chen's relation. At the midpoint (:math:`f = 1/2`) this is Foster's split (as in
diffrax's virtual Brownian tree):

.. math::
    W_{mid} = \tfrac12(W_s + W_t) + \tfrac32 H + \tfrac{\sqrt h}{4} z_1,\quad
    H_{1,2} = \tfrac14 H - \tfrac{\sqrt h}{8} z_1 \pm \sqrt{\tfrac{h}{48}}\, z_2 .

The functions use arithmetic only, so one source serves NumPy arrays, torch
tensors and (compiled) the Numba kernels; ``sqrt_h`` and the coefficients are
Python floats.

References: J. Foster, *Numerical approximations for stochastic differential
equations*, DPhil thesis, Oxford (2020), §3 and §6; P. Kidger et al., "Efficient
and accurate gradients for neural SDEs", NeurIPS 2021 (the virtual Brownian tree).

>>> import numpy as np
>>> wl, wr, hh = np.array([0.0]), np.array([1.0]), np.array([0.2])
>>> wm, h1, h2 = midpoint_split(wl, wr, hh, np.array([0.0]), np.array([0.0]), 1.0)
>>> float(wm[0]), float(h1[0]), float(h2[0])          # mean split: W_mid = 1/2 + 3/2 H
(0.8, 0.05, 0.05)
>>> w, H = chen(wm - wl, h1, wr - wm, h2, 0.5, 0.5)    # the halves give back the whole
>>> bool(np.allclose(w, 1.0)), bool(np.allclose(H, 0.2))
(True, True)
"""

from __future__ import annotations

import math


def midpoint_split(w_left, w_right, area, z1, z2, sqrt_h):
    """Foster's midpoint split of an interval with end values ``w_left``, ``w_right`` and area ``area``.

    Returns ``(W_mid, H_left, H_right)``; ``sqrt_h`` is the square root of the interval's length.
    """
    a = 0.25 * area - (0.125 * sqrt_h) * z1
    b = (sqrt_h * 0.14433756729740643) * z2  # sqrt(h / 48)
    w_mid = 0.5 * (w_left + w_right) + 1.5 * area + (0.25 * sqrt_h) * z1
    return w_mid, a + b, a - b


def split_coefficients(f, h):
    """``(mw, mh, l11, l21, l22)`` of the split at fraction ``f`` of an interval of length ``h``.

    ``w1 = f w + mw H + l11 z1``, ``H1 = mh H + l21 z1 + l22 z2`` (see the module docstring).
    """
    g = 1.0 - f
    fg = f * g
    c = 1.0 - 3.0 * fg
    l11 = math.sqrt(fg * c * h)
    l21 = -0.5 * f * f * f * g * h / l11 if l11 > 0.0 else 0.0
    l22 = math.sqrt(f * g * g * g * h / (12.0 * c))
    return 6.0 * fg, f * f, l11, l21, l22


def general_split(w, area, f, coeffs, z1, z2):
    """Split ``(w, area)`` at fraction ``f`` with ``coeffs = split_coefficients(f, h)``.

    Returns ``(w1, H1, w2, H2)`` for the pieces of lengths ``f h`` and ``(1 - f) h``.
    """
    mw, mh, l11, l21, l22 = coeffs
    g = 1.0 - f
    w1 = f * w + mw * area + l11 * z1
    h1 = mh * area + l21 * z1 + l22 * z2
    w2 = w - w1
    # Chen: H = f H1 + g H2 + (w1 g - w2 f) / 2, solved for H2.
    h2 = (area - f * h1 - 0.5 * (w1 * g - w2 * f)) / g
    return w1, h1, w2, h2


def chen(w1, h1, w2, h2, len1, len2):
    """``(w, H)`` of two adjacent pieces ``(w1, H1)`` (length ``len1``) and ``(w2, H2)`` (length ``len2``)."""
    total = len1 + len2
    area = (len1 * h1 + len2 * h2 + 0.5 * (w1 * len2 - w2 * len1)) / total
    return w1 + w2, area
