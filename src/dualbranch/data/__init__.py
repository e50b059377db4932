"""Datasets: images (Fashion-MNIST, digits, image folders, arrays) and signals (EEG, UEA series)."""
