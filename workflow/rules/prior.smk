# Rules: prior
# The EDM beat prior (paper 2.5): training of the conditional and unconditional variants, then its
# evaluation (figure 2: EMD against diffusion steps; figure 3: prior-network uncertainty; figure 14:
# generated beats). Training resumes from models/checkpoints/<variant>/last.pt after an interruption.
# On a cluster profile training, figure 2 and figure 3 ask for one GPU (resources: gpu=1).
# Seeds: prior.train.seed / evaluation.seed, or the run's seed when null.


rule train_prior:
    input:
        beats=BEATS_FILES,
        manifest=BEATS_MANIFEST,
    output:
        model=out("models/prior_{variant}.pt"),
        table=out("tables/training_loss_{variant}.csv"),
        table_md=out("tables/training_loss_{variant}.md"),
        figure=report(out("figures/training_loss_{variant}.png"), caption="../report/training_loss.rst", category="Prior"),
        figure_pdf=out("figures/training_loss_{variant}.pdf"),
    params:
        beats_dir=lambda w, input: os.path.dirname(input.manifest),
        work_dir=lambda w, output: os.path.join(os.path.dirname(output.model), "checkpoints", w.variant),
        model=config["prior"]["model"],
        train={**config["prior"]["train"], "seed": config["seed"] if config["prior"]["train"].get("seed") is None else config["prior"]["train"]["seed"]},
        device=config["device"],
    wildcard_constraints:
        variant="conditional|unconditional",
    log:
        log("prior/train_{variant}.log"),
    threads: config["prior"]["threads"]
    resources:
        mem_mb=config["prior"]["mem_mb"],
        runtime=config["prior"]["runtime_min"],
        gpu=1,
    conda:
        ENV_TRAIN
    script:
        "../../scripts/train_prior.py"


rule prior_emd:
    input:
        beats=BEATS_FILES,
        manifest=BEATS_MANIFEST,
        conditional=PRIOR_CONDITIONAL,
        unconditional=PRIOR_UNCONDITIONAL,
    output:
        table=out("tables/fig2_emd_vs_steps.csv"),
        table_md=out("tables/fig2_emd_vs_steps.md"),
        table_html=report(out("tables/fig2_emd_vs_steps.html"), caption="../report/fig2_emd_vs_steps.rst", category="Prior"),
        figure=report(out("figures/fig2_emd_vs_steps.png"), caption="../report/fig2_emd_vs_steps.rst", category="Prior"),
        figure_pdf=out("figures/fig2_emd_vs_steps.pdf"),
    params:
        beats_dir=lambda w, input: os.path.dirname(input.manifest),
        settings={**config["evaluation"]["emd"], "seed": config["seed"] if config["evaluation"].get("seed") is None else config["evaluation"]["seed"]},
        sampler=config["prior"]["sampler"],
        device=config["device"],
    log:
        log("prior/fig2_emd_vs_steps.log"),
    threads: config["evaluation"]["threads"]
    resources:
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime_min"],
        gpu=1,
    conda:
        ENV_SAMPLE
    script:
        "../../scripts/prior_emd.py"


rule prior_uncertainty:
    input:
        beats=BEATS_FILES,
        manifest=BEATS_MANIFEST,
        conditional=PRIOR_CONDITIONAL,
    output:
        table=out("tables/fig3_uncertainty.csv"),
        table_md=out("tables/fig3_uncertainty.md"),
        table_html=report(out("tables/fig3_uncertainty.html"), caption="../report/fig3_uncertainty.rst", category="Prior"),
        figure=report(out("figures/fig3_uncertainty.png"), caption="../report/fig3_uncertainty.rst", category="Prior"),
        figure_pdf=out("figures/fig3_uncertainty.pdf"),
    params:
        beats_dir=lambda w, input: os.path.dirname(input.manifest),
        settings={**config["evaluation"]["uncertainty"], "seed": config["seed"] if config["evaluation"].get("seed") is None else config["evaluation"]["seed"]},
        sampler=config["prior"]["sampler"],
        device=config["device"],
    log:
        log("prior/fig3_uncertainty.log"),
    threads: config["evaluation"]["threads"]
    resources:
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime_min"],
        gpu=1,
    conda:
        ENV_SAMPLE
    script:
        "../../scripts/prior_uncertainty.py"


rule prior_generated_beats:
    input:
        beats=BEATS_FILES,
        manifest=BEATS_MANIFEST,
        conditional=PRIOR_CONDITIONAL,
    output:
        figure=report(out("figures/fig14_generated_beats.png"), caption="../report/fig14_generated_beats.rst", category="Prior"),
        figure_pdf=out("figures/fig14_generated_beats.pdf"),
    params:
        beats_dir=lambda w, input: os.path.dirname(input.manifest),
        settings={**config["evaluation"]["generated_beats"], "seed": config["seed"] if config["evaluation"].get("seed") is None else config["evaluation"]["seed"]},
        sampler=config["prior"]["sampler"],
        device=config["device"],
    log:
        log("prior/fig14_generated_beats.log"),
    threads: config["evaluation"]["threads"]
    resources:
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime_min"],
    conda:
        ENV_PLOT
    script:
        "../../scripts/prior_generated_beats.py"


register(
    "prior",
    [PRIOR_CONDITIONAL, PRIOR_UNCONDITIONAL]
    + [out(f"{kind}/training_loss_{v}.{ext}") for v in ("conditional", "unconditional")
       for kind, ext in (("figures", "png"), ("figures", "pdf"), ("tables", "csv"), ("tables", "md"))]
    + [out(f"tables/{name}.{ext}") for name in ("fig2_emd_vs_steps", "fig3_uncertainty") for ext in ("csv", "md")]
    + [out(f"figures/{name}.{ext}") for name in ("fig2_emd_vs_steps", "fig3_uncertainty", "fig14_generated_beats")
       for ext in ("png", "pdf")],
)
