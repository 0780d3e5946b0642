"""Media in and out: video and picture reading/writing, resizing, audio mux, face crop, mosaic.

Uses numpy, Pillow, scikit-image and the ffmpeg binary bundled with imageio-ffmpeg; no torch.
"""
