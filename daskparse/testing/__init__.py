"""Test and benchmark helpers: synthetic flyers with ground truth, a misbehaving local image server."""
