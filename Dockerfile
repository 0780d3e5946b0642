# fomm image for Docker; Singularity.def builds the same image with the same steps
# (tests/workflow/test_container.py checks that they agree).
#   docker build -t fomm .
#   docker build --build-arg CHECKPOINT_URL=https://.../vox-adv-cpk.pth.tar -t fomm .
#   docker run --gpus all -v "$PWD:/work" -w /work fomm animate pic.png drive.mp4 -o out.mp4
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

LABEL org.opencontainers.image.title="fomm" \
      org.opencontainers.image.description="First Order Motion Model image animation: fomm CLI with torch + CUDA runtime" \
      org.opencontainers.image.licenses="MIT"

# Optional: bake one checkpoint into /checkpoints at build time (empty = none).
ARG CHECKPOINT_URL=""

ENV PYTHONDONTWRITEBYTECODE=1
ENV PIP_NO_CACHE_DIR=1
ENV PYTHONUNBUFFERED=1

COPY pyproject.toml /opt/fomm/pyproject.toml
COPY README.md /opt/fomm/README.md
COPY src /opt/fomm/src

RUN python -m pip install /opt/fomm
RUN mkdir -p /checkpoints
RUN if [ -n "${CHECKPOINT_URL}" ]; then python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "${CHECKPOINT_URL}" /checkpoints/baked.pth; fi

ENTRYPOINT ["fomm"]
CMD ["--help"]
