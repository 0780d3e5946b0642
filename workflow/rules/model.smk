# Checkpoints by name: a configured URL is fetched once, before any animation.
# The rule exists only when the chosen model has a URL; nothing is fetched otherwise.

if get_download_targets():

    rule download_checkpoint:
        output:
            checkpoint=get_download_targets()[0],
        log:
            download="logs/download_checkpoint.log",
        retries: 2
        localrule: True
        params:
            url=get_checkpoint()["url"],
            sha256=get_checkpoint()["sha256"],
        run:
            download_checkpoint(
                params.url, output.checkpoint, params.sha256, log.download
            )
