"""The lead-order module: Einthoven and Goldberger identities, derivations, Dower rows."""

import numpy as np
import pytest

from ecgdiff import leads


@pytest.fixture
def twelve():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(8, 50))  # I, II, V1..V6
    i, ii = basis[0], basis[1]
    limb = {"I": i, "II": ii, "III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}
    return np.stack([limb[n] for n in leads.LIMB] + list(basis[2:]))


def test_einthoven_and_goldberger_identities(twelve):
    x = dict(zip(leads.STANDARD_12, twelve))
    np.testing.assert_allclose(x["I"] + x["III"], x["II"])  # Einthoven
    np.testing.assert_allclose(x["aVR"] + x["aVL"] + x["aVF"], 0, atol=1e-12)  # Goldberger
    np.testing.assert_allclose(x["aVL"], (x["I"] - x["III"]) / 2)
    np.testing.assert_allclose(x["aVF"], (x["II"] + x["III"]) / 2)
    np.testing.assert_allclose(x["aVR"], -(x["I"] + x["II"]) / 2)


def test_derive_reproduces_every_lead_from_two_limb_leads(twelve):
    names_in = ("aVL", "aVF", *leads.PRECORDIAL)
    sig_in = twelve[leads.indices(names_in, leads.STANDARD_12)]
    np.testing.assert_allclose(leads.derive(sig_in, names_in, leads.STANDARD_12), twelve, atol=1e-12)


def test_paper_lead_set_from_standard(twelve):
    out = leads.derive(twelve, leads.STANDARD_12, leads.PAPER_9)
    np.testing.assert_allclose(out, twelve[[4, 3, 5, 6, 7, 8, 9, 10, 11]])


def test_derive_refuses_what_is_not_determined():
    with pytest.raises(leads.LeadError, match="V3"):
        leads.derivation_matrix(["I", "II", "V1"], ["V3"])
    with pytest.raises(leads.LeadError, match="II"):
        leads.derivation_matrix(["I"], ["II"])


def test_canonical_names_and_errors():
    assert leads.canonical("avl") == "aVL"
    assert leads.canonical(" v6 ") == "V6"
    with pytest.raises(leads.LeadError):
        leads.canonical("V7")
    with pytest.raises(leads.LeadError):
        leads.canonical_all(["I", "i"])


def test_dower_rows_follow_lead_relations():
    d = leads.dower_matrix(leads.STANDARD_12)
    row = dict(zip(leads.STANDARD_12, d))
    np.testing.assert_allclose(row["V3"], [0.882, 0.098, -1.277])
    np.testing.assert_allclose(row["III"], row["II"] - row["I"])
    np.testing.assert_allclose(row["aVL"], row["I"] - row["II"] / 2)
