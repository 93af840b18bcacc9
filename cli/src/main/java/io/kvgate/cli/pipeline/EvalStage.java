package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.EvalSpec;
import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.cli.config.TasksSpec;
import io.kvgate.evaluator.EvalResults;
import io.kvgate.evaluator.Evaluation;
import io.kvgate.evaluator.ReportWriter;
import io.kvgate.evaluator.TextCodec;
import io.kvgate.evaluator.policy.Budget;
import io.kvgate.evaluator.policy.LayerGates;
import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.runtime.DecodeBudget;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.tasks.Filler;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskFile;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.gates.GateSet;
import io.kvgate.models.Model;
import io.kvgate.objectives.KvzipScorer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage {@code eval}: every policy × ratio on the configured tasks, query-agnostic, into eval/ (results.csv,
 * results.json, report.md, accuracy.png). Each fitted gate type is its own policy ({@code gate-sink},
 * {@code gate-linear}); the KVzip oracle uses the same scoring setup as collection. Resumable: the evaluator
 * journals finished (context, policy, ratio) units.
 */
final class EvalStage implements Stage {
    static final String NAME = "eval";
    /** The evaluator's journal of finished units; deleted once the results are written. */
    static final String RESUME_JOURNAL = ".eval-resume.jsonl";
    private final ExperimentConfig cfg;
    private final ModelFingerprint fingerprint;

    EvalStage(ExperimentConfig cfg, ModelFingerprint fingerprint) {
        this.cfg = cfg;
        this.fingerprint = fingerprint;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<String> upstream() {
        List<String> u = new ArrayList<>();
        if (cfg.eval().policies().contains("gate")) {
            for (String t : cfg.gates().types()) u.add(TrainStage.nameFor(t));
        }
        return u;
    }

    @Override
    public String outputDir() {
        return "eval";
    }

    @Override
    public Map<String, Object> inputs() {
        Map<String, Object> m = new LinkedHashMap<>();
        Map<String, Object> model = new LinkedHashMap<>(cfg.section("model"));
        model.remove("path"); // the fingerprint identifies the weights wherever they live
        m.put("model", model);
        m.put("model_fingerprint", fingerprint.get());
        m.put("eval", cfg.section("eval"));
        m.put("scoring", cfg.section("scoring")); // the kvzip oracle
        m.put("context_template", cfg.corpus().contextTemplate());
        m.put("seed", cfg.fitting().seed()); // the random policy
        TasksSpec tasks = cfg.eval().tasks();
        if (tasks.file() != null) m.put("tasks_file", DirectoryDigest.of(tasks.file()));
        else if (!tasks.filler().equals("embedded")) m.put("filler_file", DirectoryDigest.of(Path.of(tasks.filler())));
        return m;
    }

    @Override
    public boolean resumable() {
        return true;
    }

    @Override
    public void run(StageContext ctx) {
        EvalSpec e = cfg.eval();
        List<Task> tasks = tasks(e.tasks());
        try (ModelSession session = new ModelSession(cfg)) {
            Model model = session.model();
            TextCodec codec = TextCodec.of(session.tokenizer());
            // the oracle's chunk is the evaluator's (the model's rule unless eval.kvzip_chunk), not scoring.chunk_size;
            // with both on auto it equals the gates' teacher's
            int oracleChunk = session.scoring().chunk(e.kvzipChunk());
            KvzipScorer kvzip = new KvzipScorer(session.scoring().prompt(), oracleChunk);
            List<GateSet> loaded = new ArrayList<>();
            try {
                List<Policy> policies = new ArrayList<>();
                for (String name : e.policies()) {
                    String spec = e.budget().equals(Budget.GLOBAL.id()) || name.equals("full") ? name : name + "/" + e.budget();
                    if (!name.equals("gate")) {
                        policies.add(Policies.create(spec, new Policies.Options(null, kvzip, cfg.fitting().seed())));
                        continue;
                    }
                    for (String type : cfg.gates().types()) {
                        GateSet gates = LayerGates.load(ctx.upstream(TrainStage.nameFor(type)), model).gates();
                        loaded.add(gates);
                        Policy p = Policies.create(spec, new Policies.Options(LayerGates.of(gates), kvzip, cfg.fitting().seed()));
                        policies.add(p.withName(p.name().replaceFirst("^gate", "gate-" + type)));
                    }
                }
                EvictionSettings settings = EvictionSettings.paper(1).withProtection(e.window().protection())
                        .withPrefillChunk(cfg.model().chunkSize());
                if (e.decodeBudget() != null) settings = settings.withDecodeBudget(DecodeBudget.tokensPerHead(e.decodeBudget()));
                // Finished units are journaled as they complete, so an interrupted eval resumes where it stopped.
                Evaluation evaluation = Evaluation.on(model, codec).policies(policies).ratios(e.ratios()).settings(settings)
                        .resumable(ctx.output().resolve(RESUME_JOURNAL));
                if (evaluation.resumedUnits() > 0) ctx.out().printf("      resuming: %d finished units kept%n", evaluation.resumedUnits());
                EvalResults results = evaluation.run(tasks);
                for (String p : results.problems()) System.err.println("kvgate: warning: " + p);
                String noPlot = ReportWriter.write(ctx.output(), results);
                if (noPlot != null) System.err.println("kvgate: warning: " + noPlot);
                evaluation.finish();
            } finally {
                loaded.forEach(GateSet::close);
            }
        }
    }

    private static List<Task> tasks(TasksSpec t) {
        if (t.file() != null) {
            TaskFile.Loaded loaded = TaskFile.read(t.file());
            for (String p : loaded.problems()) System.err.println("kvgate: warning: " + p);
            return loaded.tasks();
        }
        TaskGenerator standard = TaskGenerator.standard(t.seed());
        Filler filler = t.filler().equals("embedded") ? standard.filler() : Filler.fromFile(Path.of(t.filler()));
        TaskGenerator generator = new TaskGenerator(t.seed(), filler, standard.passkeyFiller(), standard.kvPairs(), standard.repeatChars());
        Map<String, Integer> suites = new LinkedHashMap<>();
        for (String kind : TaskGenerator.KINDS) if (t.suites().containsKey(kind)) suites.put(kind, t.suites().get(kind));
        return generator.generate(suites);
    }
}
