"""Numbers the lessons quote from the papers they reproduce, each typed once, with its source.

Every table is a plain dict:

- ``"paper"``: authors, title, venue and year;
- ``"where"``: the table, figure or section the numbers are read from;
- ``"data"``: the data set (or set-up) the numbers belong to;
- ``"unit"``: what a number measures;
- ``"values"``: the numbers, in nested dicts keyed by data set, model and method.

A notebook prints a quoted number from here (``papers.LIME_RECALL["values"]["books"]...``)
and :func:`cite` says where it comes from; ``tests/test_paper_numbers.py`` checks each
value against the paper once more. Only what a lesson quotes is here.
"""

from __future__ import annotations

__all__ = ["LIME_RECALL", "LIME_TRUST_F1", "LIME_NEWSGROUPS_LEAK", "ANCHORS_SIMULATED_USERS", "DEEPLIFT_PROTOCOL",
           "WOODS_ARA", "GRADCAM_CLASS_DISCRIMINATION", "GRADCAM_LOCALISATION", "GOODFELLOW_FGSM", "MADRY_MNIST", "cite"]

_GRADCAM_PAPER = ('R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra, "Grad-CAM: Visual '
                  'Explanations from Deep Networks via Gradient-based Localization", ICCV 2017')

_LIME_PAPER = ('M. T. Ribeiro, S. Singh, C. Guestrin, "\'Why Should I Trust You?\': Explaining the Predictions '
               'of Any Classifier", KDD 2016')

LIME_RECALL = {
    "paper": _LIME_PAPER,
    "where": "section 5.2 (faithfulness), the recall bar charts for the books and the DVDs data",
    "data": "Books and DVDs reviews (Blitzer et al. 2007, 2,000 reviews each), explanations of 10 features",
    "unit": "recall (%) of the features the interpretable model really uses",
    "values": {
        "books": {
            "sparse LR": {"LIME": 92.1, "Parzen": 72.8, "greedy": 64.3, "random": 17.4},
            "decision tree": {"LIME": 97.0, "Parzen": 78.9, "greedy": 37.0, "random": 20.6},
        },
        "DVDs": {
            "sparse LR": {"LIME": 90.2, "Parzen": 60.8, "greedy": 63.4, "random": 19.2},
            "decision tree": {"LIME": 97.8, "Parzen": 80.6, "greedy": 47.6, "random": 17.4},
        },
    },
}

LIME_TRUST_F1 = {
    "paper": _LIME_PAPER,
    "where": "Table 1 (section 5.3, should I trust this prediction?), the books rows",
    "data": "Books reviews, 25% of the features declared untrustworthy, simulated users",
    "unit": "average F1 (%) of the simulated users' trust against the oracle's",
    "values": {
        "books": {
            "LR": {"LIME": 96.6, "Parzen": 84.0, "greedy": 53.7, "random": 14.6},
            "NN": {"LIME": 94.5, "Parzen": 87.6, "greedy": 47.4, "random": 14.8},
            "RF": {"LIME": 96.2, "Parzen": 94.3, "greedy": 45.0, "random": 14.7},
            "SVM": {"LIME": 96.7, "Parzen": 92.3, "greedy": 53.3, "random": 14.7},
        },
    },
}

LIME_NEWSGROUPS_LEAK = {
    "paper": _LIME_PAPER,
    "where": "section 3.4 (example 1: text classification with SVMs)",
    "data": "20 Newsgroups, the Christianity and Atheism posts; an SVM with an RBF kernel on unigrams",
    "unit": "per cent",
    "values": {"20 Newsgroups": {"held-out accuracy": 94, "training posts with 'Posting'": 22,
                                 "of those, in 'Atheism'": 99}},
}

ANCHORS_SIMULATED_USERS = {
    "paper": ('M. T. Ribeiro, S. Singh, C. Guestrin, "Anchors: High-Precision Model-Agnostic Explanations", '
              'AAAI 2018'),
    "where": "Table 2 (simulated users, precision and coverage on unseen instances), the adult and rcdv rows, "
             "as stored in the authors' result files (github.com/marcotcr/anchor-experiments)",
    "data": "UCI Adult and rcdv (North Carolina prisoners released in 1978-80, not COMPAS); logistic regression, "
            "xgboost (our gradient boosting stands in) and a (50, 50) neural network",
    "unit": "per cent of the unseen test instances",
    "values": {
        data: {model: dict(zip(("anchor precision", "lime-n precision", "anchor coverage", "lime-t coverage"), row))
               for model, row in rows.items()}
        for data, rows in {
            "adult": {"logistic regression": (95.8, 81.0, 10.6, 18.4), "gradient boosting": (96.2, 81.0, 9.8, 18.5),
                      "neural net": (96.5, 77.9, 6.2, 13.5)},
            "rcdv": {"logistic regression": (95.9, 76.6, 6.6, 22.8), "gradient boosting": (95.1, 71.7, 4.9, 1.8),
                     "neural net": (92.6, 65.7, 1.1, 0.2)},
        }.items()
    },
}

DEEPLIFT_PROTOCOL = {
    "paper": ('A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through Propagating '
              'Activation Differences", ICML 2017'),
    "where": "sections 4.1 (MNIST, 8 into 3) and 4.3 (simulated genomics)",
    "data": "MNIST 28x28 digits; simulated DNA sequences",
    "unit": "set-up parameters (pixels; bases; base frequencies)",
    "values": {
        "mnist": {"pixels erased at most": 157, "share of the image": 0.2},
        "dna": {"sequence length": 200, "background": {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3}},
    },
}

WOODS_ARA = {
    "paper": ('W. Woods, J. Chen, C. Teuscher, "Adversarial Explanations for Understanding Image '
              'Classification Decisions and Improved Neural Network Robustness", Nature Machine Intelligence '
              '2019 (arXiv:1906.02896)'),
    "where": "abstract",
    "data": "ImageNet, their most robust network against the previous robust state of the art (not an "
            "undefended network), their own attack and measure of attack size",
    "unit": "accuracy-robustness area (ARA); the ratio is theirs over the previous state of the art",
    "values": {"ImageNet": {"ARA": 0.0053, "ratio to the previous state of the art": 2.4}},
}

GRADCAM_CLASS_DISCRIMINATION = {
    "paper": _GRADCAM_PAPER,
    "where": "section 5.1, evaluating class discrimination (human study on Amazon Mechanical Turk)",
    "data": "PASCAL VOC 2007 validation images with exactly two annotated categories",
    "unit": "share (%) of cases in which people named the category the visualisation showed",
    "values": {"PASCAL VOC 2007": {"guided Grad-CAM": 61.23, "guided backpropagation": 44.44}},
}

GRADCAM_LOCALISATION = {
    "paper": _GRADCAM_PAPER,
    "where": "Table 1 (weakly supervised localisation, section 4.1), the Grad-CAM row for VGG-16",
    "data": "ILSVRC-15 validation set; an error is a wrong class or a box with IoU < 0.5",
    "unit": "localisation error (%)",
    "values": {"ILSVRC-15 validation": {"Grad-CAM (VGG-16)": {"top-1": 56.51, "top-5": 46.41}}},
}

GOODFELLOW_FGSM = {
    "paper": ('I. J. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial Examples", '
              'ICLR 2015'),
    "where": "section 4 (linear perturbation of non-linear models), FGSM with eps 0.25",
    "data": "MNIST test set; a shallow softmax classifier and a maxout network",
    "unit": "per cent: error rate on the adversarial examples, and the mean confidence in the wrong class",
    "values": {"MNIST": {"shallow softmax": {"error rate": 99.9, "mean confidence": 79.3},
                         "maxout network": {"error rate": 89.4, "mean confidence": 97.6}}},
}

MADRY_MNIST = {
    "paper": ('A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models Resistant '
              'to Adversarial Attacks", ICLR 2018'),
    "where": "Table 1 (MNIST), white-box PGD attacks on their adversarially trained network (source A)",
    "data": "MNIST test set, L-inf eps 0.3",
    "unit": "accuracy (%) under the attack",
    "values": {"MNIST": {"PGD, 40 steps, 1 restart": 93.2, "PGD, 100 steps, 1 restart": 91.8,
                         "PGD, 40 steps, 20 restarts": 90.4, "PGD, 100 steps, 20 restarts": 89.3}},
}


def cite(table: dict) -> str:
    """One line saying where a table's numbers come from: paper, place in it, data set.

    Parameters
    ----------
    table : dict
        One of this module's tables (it has the keys ``paper``, ``where`` and ``data``).

    Returns
    -------
    str

    Examples
    --------
    >>> cite(LIME_TRUST_F1).startswith("M. T. Ribeiro")
    True
    """
    if not isinstance(table, dict) or not {"paper", "where", "data"} <= set(table):
        raise TypeError(f"table must be one of course_utils.papers' tables (a dict with 'paper', 'where' and "
                        f"'data'), got {type(table).__name__}: {table!r:.80}")
    return f"{table['paper']}, {table['where']}; data: {table['data']}"
