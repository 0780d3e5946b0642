# Static HTML gallery with relative links, so it works after rsync to a laptop.


rule gallery:
    input:
        results=get_result_paths(),
        mosaics=expand("results/{driving}/mosaic.mp4", driving=get_driving_names()),
        posters=expand(
            f"{CROPPED_PICTURES}/{{picture}}.png", picture=get_paired_pictures()
        ),
    output:
        page="results/index.html",
    log:
        gallery="logs/gallery.log",
    localrule: True
    run:
        write_gallery(output.page, log.gallery)


onsuccess:
    print_summary(succeeded=True)


onerror:
    print_summary(succeeded=False)
