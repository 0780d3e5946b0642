# Face crops, one per input file, shared by every pair that uses it.


rule crop_picture:
    input:
        get_picture_path,
    output:
        f"{CROPPED_PICTURES}/{{picture}}.png",
    log:
        "logs/crop/pictures/{picture}.log",
    conda:
        "../../envs/fomm.yaml"
    container:
        config["container"]
    params:
        options=get_picture_crop_options,
    shell:
        "fomm crop {input:q} -o {output:q} {params.options:q} > {log:q} 2>&1"


rule crop_driving:
    input:
        get_driving_path,
    output:
        f"{CROPPED_DRIVING}/{{driving}}.mp4",
    log:
        "logs/crop/driving/{driving}.log",
    conda:
        "../../envs/fomm.yaml"
    container:
        config["container"]
    params:
        options=get_driving_crop_options,
    shell:
        "fomm crop {input:q} -o {output:q} {params.options:q} > {log:q} 2>&1"
