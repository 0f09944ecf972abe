"""The iterated Itô integrals the higher-order methods use, from (ΔW, H) in one place.

With ``h`` the step, ``ΔW`` the increment and ``H`` the space-time Lévy area
(``H = (1/h)∫(W_s − W_t − ((s − t)/h) ΔW) ds``, :meth:`sdekit.BrownianPath.space_time_levy_area`):
``I_(1) = ΔW``, ``I_(1,1) = (ΔW² − h)/2``, ``I_(1,1,1) = (ΔW³ − 3hΔW)/6`` and
``I_(1,0) = ∫(W_s − W_t) ds = h (H + ΔW/2)`` (per component; diagonal and scalar noise).
Reference: Kloeden & Platen, *Numerical Solution of SDEs* (1992), §5.2; Foster, Lyons &
Oberhauser (2020) for the space-time area.
"""


def i10_over_h(W, H):
    """``I_(1,0)/h = H + ΔW/2``.

    >>> i10_over_h(1.0, 0.25)
    0.75
    """
    return H + 0.5 * W


def iterated_integrals(dw, dt):
    """``(I1, I11/sqrt h, I10/h, I111/h)`` per component from ``(dW, H)`` (diagonal/scalar noise).

    >>> [round(v, 6) for v in iterated_integrals((0.5, 0.1), 0.25)]
    [0.5, 0.0, 0.35, -0.166667]

    ``I_(1,1) = (ΔW² - h)/2``, ``I_(1,1,1) = (ΔW³ - 3hΔW)/6``, ``I_(1,0) = h (H + ΔW/2)``.
    """
    W, H = dw
    sq = dt**0.5
    return W, (W * W - dt) * (0.5 / sq), i10_over_h(W, H), (W * W * W - (3.0 * dt) * W) * (1.0 / (6.0 * dt))
