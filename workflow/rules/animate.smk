# One GPU job per pair; `--group-components animate=N` bundles N pairs into one job.


rule animate:
    input:
        unpack(get_checkpoint_inputs),
        picture=f"{CROPPED_PICTURES}/{{picture}}.png",
        driving=f"{CROPPED_DRIVING}/{{driving}}.mp4",
    output:
        temp(f"{SILENT_VIDEOS}/{{driving}}/{{picture}}.mp4"),
    log:
        "logs/animate/{driving}/{picture}.log",
    group:
        "animate"
    conda:
        "../../envs/fomm.yaml"
    container:
        config["container"]
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        options=get_animate_options,
    script:
        "../scripts/animate.py"
