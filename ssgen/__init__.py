"""ssgen: semi-supervised (M1) and class-conditional generative models (DCGAN, WGAN, WGAN-GP) on Fashion-MNIST."""

__version__ = "0.1.0"
