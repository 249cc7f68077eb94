"""One module per data set, each defining ``INFO = ssgen.data.info.DatasetInfo(...)``; ``data.dataset=<module name>``.

    fashion_mnist.py  Fashion-MNIST (Xiao et al. 2017): the default, identified by its files' digests
    mnist.py          MNIST (LeCun et al. 1998): Kingma et al. 2014's data set
    kmnist.py         Kuzushiji-MNIST (Clanuwat et al. 2018)
"""
