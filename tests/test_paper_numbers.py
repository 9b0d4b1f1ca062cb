"""The numbers the lessons quote from papers (course_utils.papers), checked against the papers.

This file is where each quoted value is typed a second time, with its citation: a slip in
``course_utils/papers.py`` (a swapped column, a rounded value) fails here. The notebooks print
the values from ``course_utils.papers``, never their own copies.
"""
import pytest

from course_utils import papers


def test_anchors_table_2_adult_and_rcdv_rows():
    values = papers.ANCHORS_SIMULATED_USERS["values"]
    columns = ("anchor precision", "lime-n precision", "anchor coverage", "lime-t coverage")
    expected = {("adult", "logistic regression"): (95.8, 81.0, 10.6, 18.4),
                ("adult", "gradient boosting"): (96.2, 81.0, 9.8, 18.5),
                ("adult", "neural net"): (96.5, 77.9, 6.2, 13.5),
                ("rcdv", "logistic regression"): (95.9, 76.6, 6.6, 22.8),
                ("rcdv", "gradient boosting"): (95.1, 71.7, 4.9, 1.8),
                ("rcdv", "neural net"): (92.6, 65.7, 1.1, 0.2)}
    assert {(d, m): tuple(values[d][m][c] for c in columns) for d in values for m in values[d]} == expected
    assert "not COMPAS" in papers.ANCHORS_SIMULATED_USERS["data"]


def test_lime_recall_is_the_papers_per_data_set_figures():
    # Ribeiro, Singh, Guestrin, KDD 2016, section 5.2: recall (%) on truly important features,
    # books chart and DVDs chart; sparse logistic regression / decision tree.
    expected = {
        ("books", "sparse LR"): {"random": 17.4, "Parzen": 72.8, "greedy": 64.3, "LIME": 92.1},
        ("books", "decision tree"): {"random": 20.6, "Parzen": 78.9, "greedy": 37.0, "LIME": 97.0},
        ("DVDs", "sparse LR"): {"random": 19.2, "Parzen": 60.8, "greedy": 63.4, "LIME": 90.2},
        ("DVDs", "decision tree"): {"random": 17.4, "Parzen": 80.6, "greedy": 47.6, "LIME": 97.8},
    }
    values = papers.LIME_RECALL["values"]
    assert {(data, model) for data in values for model in values[data]} == set(expected)
    for (data, model), recalls in expected.items():
        assert values[data][model] == recalls, (data, model)


def test_lime_recall_says_greedy_is_worse_on_trees():
    # The paper's own reading: greedy is "substantially worse" on decision trees.
    for data in ("books", "DVDs"):
        by_model = papers.LIME_RECALL["values"][data]
        assert by_model["decision tree"]["greedy"] < by_model["sparse LR"]["greedy"] - 10


def test_lime_trust_f1_is_table_1_books():
    # Ribeiro, Singh, Guestrin, KDD 2016, Table 1, books rows (average F1 of trustworthiness).
    expected = {"random": (14.6, 14.8, 14.7, 14.7), "Parzen": (84.0, 87.6, 94.3, 92.3),
                "greedy": (53.7, 47.4, 45.0, 53.3), "LIME": (96.6, 94.5, 96.2, 96.7)}
    books = papers.LIME_TRUST_F1["values"]["books"]
    assert list(books) == ["LR", "NN", "RF", "SVM"]
    for method, row in expected.items():
        assert tuple(books[model][method] for model in books) == row, method


def test_deeplift_protocol():
    # Shrikumar et al., ICML 2017: section 4.1 erases up to 157 pixels (20% of 784); section 4.3's
    # sequences are 200 bases drawn with background frequencies A 0.3, C 0.2, G 0.2, T 0.3.
    values = papers.DEEPLIFT_PROTOCOL["values"]
    assert values["mnist"] == {"pixels erased at most": 157, "share of the image": 0.2}
    assert round(784 * values["mnist"]["share of the image"]) == 157
    assert values["dna"] == {"sequence length": 200, "background": {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3}}


def test_woods_ara():
    # Woods, Chen, Teuscher 2019, abstract: "an Accuracy-Robustness Area (ARA) of 0.0053, an ARA 2.4x
    # greater than the previous state of the art" (ImageNet).
    assert papers.WOODS_ARA["values"] == {"ImageNet": {"ARA": 0.0053, "ratio to the previous state of the art": 2.4}}
    assert "previous robust state of the art" in papers.WOODS_ARA["data"]


def test_gradcam_human_study():
    # Selvaraju et al., ICCV 2017, section 5.1: 61.23% with guided Grad-CAM against 44.44% with guided
    # backpropagation, "an improvement of 16.79%" (the seed material rounds it to 17%).
    values = papers.GRADCAM_CLASS_DISCRIMINATION["values"]["PASCAL VOC 2007"]
    assert values == {"guided Grad-CAM": 61.23, "guided backpropagation": 44.44}
    assert round(values["guided Grad-CAM"] - values["guided backpropagation"], 2) == 16.79


def test_gradcam_localisation_error():
    # Selvaraju et al., ICCV 2017, Table 1: Grad-CAM on VGG-16, top-1 localisation error 56.51, top-5 46.41
    # (ILSVRC-15 val), below Backprop's and c-MWP's in the same table.
    assert papers.GRADCAM_LOCALISATION["values"] == {
        "ILSVRC-15 validation": {"Grad-CAM (VGG-16)": {"top-1": 56.51, "top-5": 46.41}}}


def test_lime_newsgroups_leak():
    # Ribeiro et al., KDD 2016, section 3.4: "Although this classifier achieves 94% held-out accuracy ...
    # The word 'Posting' (part of the email header) appears in 22% of examples in the training set, 99% of them
    # in the class 'Atheism'."
    assert papers.LIME_NEWSGROUPS_LEAK["values"] == {"20 Newsgroups": {
        "held-out accuracy": 94, "training posts with 'Posting'": 22, "of those, in 'Atheism'": 99}}


def test_goodfellow_fgsm():
    # Goodfellow, Shlens, Szegedy, ICLR 2015, section 4: "Using eps = .25, we cause a shallow softmax classifier
    # to have an error rate of 99.9% with an average confidence of 79.3% on the MNIST test set. Using the same
    # configuration, a maxout network misclassifies 89.4% of our adversarial examples with an average confidence
    # of 97.6%."
    assert papers.GOODFELLOW_FGSM["values"] == {"MNIST": {
        "shallow softmax": {"error rate": 99.9, "mean confidence": 79.3},
        "maxout network": {"error rate": 89.4, "mean confidence": 97.6}}}


def test_madry_mnist():
    # Madry et al., ICLR 2018, Table 1 (MNIST, eps 0.3, white-box source A): PGD 40 steps 1 restart 93.2%,
    # 100 steps 1 restart 91.8%, 40 steps 20 restarts 90.4%, 100 steps 20 restarts 89.3%.
    values = papers.MADRY_MNIST["values"]["MNIST"]
    assert values == {"PGD, 40 steps, 1 restart": 93.2, "PGD, 100 steps, 1 restart": 91.8,
                      "PGD, 40 steps, 20 restarts": 90.4, "PGD, 100 steps, 20 restarts": 89.3}
    assert min(values.values()) == values["PGD, 100 steps, 20 restarts"]  # the strongest attack


def test_course_simulation_uses_the_papers_background():
    from course_utils.simulation import BACKGROUND

    assert list(BACKGROUND) == pytest.approx(list(papers.DEEPLIFT_PROTOCOL["values"]["dna"]["background"].values()))


@pytest.mark.parametrize("name", papers.__all__[:-1])
def test_every_table_has_its_source(name):
    table = getattr(papers, name)
    assert set(table) == {"paper", "where", "data", "unit", "values"}
    assert all(isinstance(table[key], str) and table[key] for key in ("paper", "where", "data", "unit"))
    assert table["paper"] in papers.cite(table) and table["where"] in papers.cite(table)


def test_cite_rejects_what_is_not_a_table():
    with pytest.raises(TypeError, match="table must be"):
        papers.cite("LIME")
    with pytest.raises(TypeError, match="table must be"):
        papers.cite({"paper": "x"})
