package io.kvgate.cli;

import io.kvgate.evaluator.EvalResults;
import io.kvgate.evaluator.Evaluation;
import io.kvgate.evaluator.ReportWriter;
import io.kvgate.evaluator.ResultRow;
import io.kvgate.evaluator.TextCodec;
import io.kvgate.evaluator.policy.Budget;
import io.kvgate.evaluator.policy.LayerGates;
import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskFile;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.export.GateArtifact;
import io.kvgate.models.Model;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.RepeatPrompts;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** Evaluate eviction policies on JSONL tasks or generated suites. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate eviction policies on tasks, query-agnostic: each context is prefilled and compressed "
                + "before its queries are seen, then every query is answered greedily.",
                "Writes results.csv, results.json, report.md and accuracy.png into --out."})
public final class EvalCommand implements Runnable {
    /** Finished units of an interrupted run, in the output directory; removed once the results are written. */
    static final String RESUME_JOURNAL = ".eval-resume.jsonl";

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--gates", paramLabel = "ARTIFACT", description = "Gate artifact directory (needed by the 'gate' policy).")
    Path gates;

    static final class TaskSource {
        @Option(names = "--tasks", paramLabel = "FILE.jsonl", description = "JSONL tasks (id, task, context, query, answer).")
        Path tasks;

        @Option(names = "--generate", paramLabel = "SUITES",
                description = "Generate suites for the tiny model: passkey,kv,repeat:N (N of each) or passkey:20,kv:10.")
        String generate;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    TaskSource source;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of generated suites and of the random policy (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ratios", split = ",", defaultValue = "0.1,0.2,0.3,0.5",
            description = "Shares of KV pairs kept, each in (0,1] (default: ${DEFAULT-VALUE}).")
    List<Double> ratios;

    @Option(names = "--policies", defaultValue = "full,kvzip,snapkv,h2o,streaming,random,keynorm",
            description = "Policies: full, gate, kvzip, snapkv, h2o, streaming, random, keynorm; a suffix /global, "
                    + "/per-layer or /per-head picks the budget (default: ${DEFAULT-VALUE}; gate is added when --gates is given).")
    String policies;

    @Option(names = "--budget", defaultValue = "global",
            description = "Budget of policies without a suffix: global, per-layer or per-head (default: ${DEFAULT-VALUE}).")
    String budget;

    @Option(names = "--window", defaultValue = "-1",
            description = "Local window in tokens, never evicted (default: the paper's 2%% of the context, 4096 from 16K tokens).")
    int window;

    @Option(names = "--sinks", defaultValue = "4", description = "Leading tokens never evicted (default: ${DEFAULT-VALUE}).")
    int sinks;

    @Option(names = "--system-prefix", defaultValue = "0", description = "Leading context tokens declared as system prompt, never evicted.")
    int systemPrefix;

    @Option(names = "--prefill-chunk", defaultValue = "2048", description = "Prefill chunk in tokens; eviction runs after each (default: ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--kvzip-chunk", description = "KVzip oracle's reconstruction chunk in tokens (default: the model's: "
            + RepeatPrompts.TINY_MODEL_CHUNK + " for the tiny retrieval model, " + RepeatPrompts.OFFICIAL_CHUNK + " otherwise).")
    Integer kvzipChunk;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;

    @Override
    public void run() {
        ratios.forEach(EvictionSettings::checkRatio);
        Budget defaultBudget = Budget.parse(budget);
        List<Task> tasks;
        List<String> problems = new ArrayList<>();
        if (source.tasks != null) {
            TaskFile.Loaded loaded = TaskFile.read(source.tasks);
            tasks = loaded.tasks();
            problems.addAll(loaded.problems());
            loaded.problems().forEach(p -> System.err.println("kvgate: warning: " + p));
        } else {
            tasks = TaskGenerator.standard(seed).generate(TaskGenerator.parseSuites(source.generate));
        }
        Protection protection = new Protection(sinks, systemPrefix, window, 0.02, 4096);
        EvictionSettings settings = EvictionSettings.paper(1).withProtection(protection).withPrefillChunk(prefillChunk);
        try (Model model = modelOptions.load(); TextTokenizer tokenizer = TextTokenizer.load(model.checkpoint());
             GateArtifact artifact = gates == null ? null : LayerGates.load(gates, model)) {
            TextCodec codec = TextCodec.of(tokenizer);
            LayerGates layerGates = artifact == null ? null : LayerGates.of(artifact.gates());
            Optional<ChatTemplate> chat = ChatTemplate.load(model.checkpoint().dir());
            RepeatPrompts.Style style = RepeatPrompts.resolveStyle(tokenizer, chat, RepeatPrompts.Style.AUTO);
            KvzipScorer kvzip = new KvzipScorer(RepeatPrompts.forModel(tokenizer, chat, style, null),
                    kvzipChunk != null ? kvzipChunk : RepeatPrompts.defaultChunk(style));
            String names = policies;
            if (layerGates != null && !(("," + names + ",").contains(",gate,") || names.contains("gate/"))) names = names + ",gate";
            List<Policy> list = new ArrayList<>();
            for (Policy p : Policies.parse(names, new Policies.Options(layerGates, kvzip, seed))) {
                boolean suffixed = p.name().contains("/");
                list.add(!p.evicts() || suffixed || defaultBudget == Budget.GLOBAL ? p : Policy.of(p.scorer(), defaultBudget));
            }
            Evaluation evaluation = Evaluation.on(model, codec).policies(list).ratios(ratios).settings(settings)
                    .resumable(out.resolve(RESUME_JOURNAL));
            if (evaluation.resumedUnits() > 0)
                System.err.println("kvgate: resuming: " + evaluation.resumedUnits() + " finished units found in " + out.resolve(RESUME_JOURNAL));
            EvalResults results = evaluation.run(tasks);
            List<String> allProblems = new ArrayList<>(problems);
            allProblems.addAll(results.problems());
            results.problems().forEach(p -> System.err.println("kvgate: warning: " + p));
            EvalResults.Setup s = results.setup();
            results = new EvalResults(results.rows(), results.items(), allProblems,
                    new EvalResults.Setup(modelOptions.model.toString(), s.fingerprint(), gates == null ? null : gates.toString(),
                            s.policies(), s.ratios(), s.budget(), s.window(), s.prefillChunk(), s.seconds()));
            String noPlot = ReportWriter.write(out, results);
            evaluation.finish();
            System.out.print(summary(results));
            if (noPlot != null) System.err.println("kvgate: warning: " + noPlot);
            System.out.println("wrote " + out.resolve("results.csv") + ", results.json, report.md" + (noPlot == null ? ", accuracy.png" : ""));
        }
    }

    /** Accuracy per task and policy (rows) and ratio (columns). */
    static String summary(EvalResults results) {
        List<Double> rs = results.rows().stream().map(ResultRow::ratio).distinct().sorted().toList();
        List<String> header = new ArrayList<>(List.of("task", "policy"));
        for (double r : rs) header.add("acc@" + r);
        header.add("KV kept@" + rs.get(0));
        TextTable t = new TextTable(header.toArray(new String[0]));
        for (String task : results.taskKinds()) {
            for (String p : results.rows().stream().filter(r -> r.task().equals(task)).map(ResultRow::policy).distinct().toList()) {
                List<Object> cells = new ArrayList<>(List.of(task, p));
                for (double r : rs) cells.add(results.row(task, p, r).map(x -> String.format(Locale.ROOT, "%.1f%%", 100 * x.accuracy())).orElse("-"));
                cells.add(results.row(task, p, rs.get(0)).map(x -> String.format(Locale.ROOT, "%.2f", x.kvFraction())).orElse("-"));
                t.row(cells.toArray());
            }
        }
        return t.toString();
    }
}
