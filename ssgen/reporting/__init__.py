"""Tables, figures and the write-up, made from finished runs' records; training never imports this package.

    tables.py   Table 1, the GAN metrics table, M2's selection, searches; mean ± std cells and failed-run lines
    figures.py  GAN loss curves, generated vs real images, class grids, M2's selection curves
    records.py  small committable records of finished runs (results.json, curves.csv, samples)
    study.py    the write-up's study (ssgen-study writeup): its plan, budgets and resumable multiruns
    writeup.py  the write-up page (ssgen-report writeup)
    theory.py   docs companion: why Wasserstein (needs the ``theory`` extra)
"""
