# One side-by-side video per driving video, with its sound: sources, driving video, results.


rule mosaic:
    input:
        unpack(get_mosaic_inputs),
    output:
        video=report(
            "results/{driving}/mosaic.mp4",
            caption="../report/mosaic.rst",
            category="{driving}",
            labels={"driving": "{driving}", "video": "mosaic"},
        ),
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
