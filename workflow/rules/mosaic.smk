# One side-by-side video per driving video: driving | picture 1 | picture 2 | ...


rule mosaic:
    input:
        unpack(get_mosaic_inputs),
    output:
        video=temp(f"{SILENT_VIDEOS}/{{driving}}/mosaic.mp4"),
        poster="results/{driving}/mosaic.png",
    log:
        "logs/mosaic/{driving}.log",
    conda:
        "../../envs/fomm.yaml"
    container:
        config["container"]
    params:
        tile=config["mosaic"]["tile"],
    script:
        "../scripts/mosaic.py"
