"""The counter-based generator: known-answer vectors, the compiled twin, and the statistics of its normals."""

import numpy as np
import pytest
from scipy import stats

from sdekit import philox

# Known-answer vectors of Philox4x32-10 (Salmon et al. 2011, Random123's kat_vectors).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_philox_known_answers(ctr, key, expected):
    words = philox.philox4x32(*[np.array([c], np.uint64) for c in ctr], np.uint64(key[0]), np.uint64(key[1]))
    assert tuple(int(w[0]) for w in words) == expected


def test_inverse_cdf_accuracy():
    from scipy.special import ndtri

    u = np.linspace(1e-9, 1 - 1e-9, 200_001)
    z = philox.normal_from_uniform(u)
    assert np.max(np.abs(z - ndtri(u)) / np.abs(ndtri(u)).clip(1e-12)) < 1.2e-9  # Acklam's published bound


@pytest.mark.parametrize("seed", [0, 7, 2**63 + 5])
def test_compiled_twin_equals_the_numpy_reference(seed):
    paths = np.arange(3000, 3000 + 512, dtype=np.uint64)
    draws = (0, 1, 2, 3, 4, 12345, 2**40 + 7, philox.tree_draw(philox.MAX_SEGMENT, 2**33 - 1, 1),
             philox.leaf_draw(5, 2**32 - 1, 3), philox.aux_draw(2**40 - 1, 2**16 - 1), philox.stream_draw(255, 7))
    for draw in draws:
        ref = philox.normals(seed, draw, paths, 3, compiled=False)
        got = philox.normals(seed, draw, paths, 3)
        np.testing.assert_allclose(got, ref, rtol=4e-16, atol=0)  # equal up to an ulp of log in the tails
    big = np.arange(2**48 - 4, 2**48, dtype=np.uint64)  # the top of the path range, components past 2**8
    np.testing.assert_allclose(philox.normals(seed, 9, big, 2, comp_offset=300),
                               philox.normals(seed, 9, big, 2, comp_offset=300, compiled=False), rtol=4e-16, atol=0)


def test_normals_are_standard_and_independent():
    # 200k draws: mean, variance, KS, and correlations across paths, components, lanes and nodes
    # within 5 standard errors (SE of a mean 1/sqrt(n), of a variance sqrt(2/n), of a correlation 1/sqrt(n)).
    paths = np.arange(50_000, dtype=np.uint64)
    z = np.stack([philox.normals(11, node, paths, 2) for node in (100, 101, 102, 103)])  # (4 nodes, n, 2)
    flat = z.ravel()
    n = flat.size
    assert abs(flat.mean()) < 5 / np.sqrt(n)
    assert abs(flat.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(flat, "norm").pvalue > 1e-4
    assert abs(stats.kurtosis(flat)) < 5 * np.sqrt(24 / n)
    cols = z.reshape(4, -1)  # nodes sharing one Philox call (lanes) must be uncorrelated
    corr = np.corrcoef(cols)
    off = corr[~np.eye(corr.shape[0], dtype=bool)]
    assert np.max(np.abs(off)) < 5 / np.sqrt(cols.shape[1])
    assert abs(np.corrcoef(z[0, :, 0], z[0, :, 1])[0, 1]) < 5 / np.sqrt(z.shape[1])
    assert abs(np.corrcoef(z[0, :-1, 0], z[0, 1:, 0])[0, 1]) < 5 / np.sqrt(z.shape[1])  # neighbouring paths
