# Sound from the original driving video, in a small CPU job apart from the GPU work.


ruleorder: mosaic > mux_audio


rule mux_audio:
    input:
        video=f"{SILENT_VIDEOS}/{{driving}}/{{picture}}.mp4",
        audio=get_audio_source,
    output:
        report(
            "results/{driving}/{picture}.mp4",
            caption="../report/result.rst",
            category="{driving}",
            labels={"driving": "{driving}", "picture": "{picture}"},
        ),
    log:
        "logs/mux/{driving}/{picture}.log",
    conda:
        "../../envs/fomm.yaml"
    container:
        config["container"]
    shell:
        "fomm mux {input.video:q} --audio-from {input.audio:q} -o {output:q} > {log:q} 2>&1"
