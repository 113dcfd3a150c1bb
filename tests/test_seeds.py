"""The worked examples of the lecture slides (../shared/seeds), value by value.

Each value the slides print is checked at the printed digits against derive's
published JSON. Where a slide is wrong, the test asserts the true value and says
what was printed and why it differs (the problem file carries the same comment).
"""

from __future__ import annotations

import math

import pytest
from conftest import agrees_to_printed_digits, published, solved

MAZUR = [  # seed 001, Practice Problem - Back Propagation (Matt Mazur's example)
    ("quantities", "net_h1", "0.3775"),
    ("quantities", "out_h1", "0.593269992"),
    ("quantities", "out_h2", "0.596884378"),
    ("quantities", "net_o1", "1.105905967"),
    ("quantities", "out_o1", "0.75136507"),
    ("quantities", "out_o2", "0.772928465"),
    ("quantities", "E_o1", "0.274811083"),
    ("quantities", "E_o2", "0.023560026"),
    ("quantities", "E_total", "0.298371109"),
    ("quantities", "dout_o1/dnet_o1", "0.186815602"),
    ("quantities", "dnet_o1/dw5", "0.593269992"),
    ("quantities", "dE_total/dout_o1", "0.74136507"),
    ("gradients", "w5", "0.082167041"),
    ("updated", "w5", "0.35891648"),
    ("updated", "w6", "0.408666186"),
    ("updated", "w7", "0.511301270"),
    ("updated", "w8", "0.561370121"),
    ("gradients", "w1", "0.000438568"),
    ("updated", "w1", "0.149780716"),
    ("updated", "w2", "0.19956143"),
    ("updated", "w3", "0.24975114"),
    ("updated", "w4", "0.29950229"),
]


@pytest.mark.parametrize("group, name, printed", MAZUR)
def test_mazur_every_printed_value(group, name, printed):
    assert agrees_to_printed_digits(published("mazur")[group][name], printed)


def test_mazur_biases_are_not_updated_and_the_markdown_shows_the_slide_lines():
    data = published("mazur")
    assert set(data["updated"]) == {f"w{i}" for i in range(1, 9)}
    markdown = solved("mazur").to_markdown()
    assert r"&= 0.15 \cdot 0.05 + 0.2 \cdot 0.1 + 0.35" in markdown
    assert r"&= 0.74136507 \cdot 0.186815602 \cdot 0.593269992" in markdown
    assert r"&= 0.4 - 0.5 \cdot 0.082167041" in markdown
    # The hidden weight reaches E_total through o1 and o2: both paths, then the sum.
    assert (r"&= 0.138498562 \cdot 0.4 + \left(-0.038098237\right) \cdot 0.5" in markdown)
    assert agrees_to_printed_digits(data["quantities"]["dE_total/dout_h1"], "0.036350306")


ZHOU = [  # seed 004: the 2-2-1 network and Alice, printed to 3 significant digits
    ("h1", "0.0474"),
    ("h2", "0.0474"),
    ("y_pred", "0.524"),
    ("dy_pred/dz_o", "0.249"),      # slide: dy_pred/dh1 = w5 f'(z_o) with w5 = 1
    ("dh1/dz_h1", "0.045177"),      # slide printed 0.044791 = 0.047(1 - 0.047): f(-3) rounded first
    ("dL/dy_pred", "-0.953"),       # slide printed -0.952: computed from y_pred rounded to 0.524
    ("dL/dw1", "0.0215"),           # slide printed 0.0214: a product of rounded factors
]


@pytest.mark.parametrize("name, printed", ZHOU)
def test_zhou_alice(name, printed):
    assert agrees_to_printed_digits(published("zhou_alice")["quantities"][name], printed)


def test_zhou_alice_all_nine_gradients_and_the_slide_products():
    data = published("zhou_alice")
    assert len(data["gradients"]) == 9
    q = data["quantities"]
    # The slide's dh1/dw1 = x1 f'(-3) = -0.0904 is our dz_h1/dw1 times dh1/dz_h1.
    assert agrees_to_printed_digits(q["dz_h1/dw1"] * q["dh1/dz_h1"], "-0.0904")
    # By the symmetry of the network, h1 and h2 get the same gradients.
    assert math.isclose(data["gradients"]["w1"], data["gradients"]["w3"], rel_tol=1e-15)
    assert agrees_to_printed_digits(data["gradients"]["b1"], "-0.010735")


PERCEPTRON = [  # seed 000: three points, w = .7, b = .1, alpha = 1, mean BCE
    ("gradients", "w", "0.013"),
    ("gradients", "b", "0.23"),
    ("updated", "w", "0.687"),
    ("updated", "b", "-0.13"),
    ("quantities", "a(1)", "0.54"),
    ("quantities", "a(2)", "0.56"),     # slide printed .55 in the loss and .56 in dL/db
    ("quantities", "L(1)", "0.7818"),   # slide printed 0.337 = -log10(.46): base-10 logs
    ("quantities", "L(2)", "0.8203"),   # slide printed 0.347 = -log10(.45)
    ("quantities", "L(3)", "0.5501"),   # slide printed 0.244 = -log10(.57)
]


@pytest.mark.parametrize("group, name, printed", PERCEPTRON)
def test_perceptron_toy(group, name, printed):
    assert agrees_to_printed_digits(published("perceptron_toy")[group][name], printed)


def test_perceptron_toy_loss_is_natural_log_and_slide_used_log10():
    data = published("perceptron_toy")
    assert agrees_to_printed_digits(data["loss"], "0.7174")  # slide: 0.928 / 3 = 0.309
    # The slide's 0.309 is the same loss in base-10 logarithms: name the cause.
    assert agrees_to_printed_digits(data["loss"] / math.log(10), "0.312")
    assert agrees_to_printed_digits(
        sum(-math.log10(p) for p in (0.46, 0.45, 0.57)) / 3, "0.309")


BCE = [  # seed 001: 4-4-1, sigmoid/sigmoid, binary cross-entropy, y = 0
    ("z1_1", "0.01"), ("z1_2", "0.71"), ("z1_3", "0.42"), ("z1_4", "0.63"),
    ("a1_1", "0.50"), ("a1_2", "0.67"), ("a1_3", "0.60"), ("a1_4", "0.65"),
    ("z2", "0.921"),
    ("a2", "0.7153"),   # slide printed 0.7152: sigmoid of a2 rounded to 0.921
    ("L", "1.2563"),    # slide printed 1.2560: -log(1 - 0.7152), the rounded y_hat
]


@pytest.mark.parametrize("name, printed", BCE)
def test_bce_4_4_1(name, printed):
    assert agrees_to_printed_digits(published("bce_4_4_1")["quantities"][name], printed)


def test_bce_slide_values_come_from_rounded_intermediates():
    assert agrees_to_printed_digits(1 / (1 + math.exp(-0.921)), "0.7152")
    assert agrees_to_printed_digits(-math.log(1 - 0.7152), "1.2560")


CCE = [  # seed 001: 4-4-3, sigmoid/softmax, categorical cross-entropy, y = [0 0 1]
    ("z1_1", "0.62"), ("z1_2", "0.09"), ("z1_3", "0.2"), ("z1_4", "-0.15"),
    ("a1_1", "0.65"), ("a1_2", "0.52"), ("a1_3", "0.55"), ("a1_4", "0.46"),
    ("z2_1", "0.32"), ("z2_2", "0.29"),
    ("z2_3", "0.7897"),   # slide printed 0.85: an arithmetic slip
    ("a2_1", "0.2800"),   # slide printed 0.2718 (not even softmax of its own a2)
    ("a2_2", "0.2714"),   # slide printed 0.2634
    ("a2_3", "0.4487"),   # slide printed 0.4648
    ("L", "0.8015"),      # slide printed 0.7661 = -log(0.4648)
]


@pytest.mark.parametrize("name, printed", CCE)
def test_cce_4_4_3(name, printed):
    assert agrees_to_printed_digits(published("cce_4_4_3")["quantities"][name], printed)


def test_cce_softmax_with_cross_entropy_gives_a_minus_y():
    q = published("cce_4_4_3")["quantities"]
    for k, y in enumerate((0, 0, 1), start=1):
        assert math.isclose(q[f"dL/dz2_{k}"], q[f"a2_{k}"] - y, rel_tol=1e-12, abs_tol=1e-15)
