# Sound from the original driving video, in a small CPU job apart from the GPU work.


ruleorder: mosaic > animate


rule mux_audio:
    input:
        video=f"{SILENT_VIDEOS}/{{driving}}/{{video}}.mp4",
        audio=get_audio_source,
    output:
        report(
            "results/{driving}/{video}.mp4",
            caption="../report/result.rst",
            category="{driving}",
            labels={"driving": "{driving}", "video": "{video}"},
        ),
    log:
        "logs/mux/{driving}/{video}.log",
    conda:
        "../../envs/fomm.yaml"
    container:
        config["container"]
    shell:
        "fomm mux {input.video:q} --audio-from {input.audio:q} -o {output:q} > {log:q} 2>&1"
