"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018): hinge D loss, −D(G(z)) G loss."""
from .base import Method, loss_param

METHOD = Method("hinge", params={"loss": loss_param("hinge")},
                doc="Hinge discriminator loss and -D(G(z)) generator loss.")
