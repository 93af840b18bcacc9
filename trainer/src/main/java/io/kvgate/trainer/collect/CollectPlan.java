package io.kvgate.trainer.collect;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.kvgate.datasets.corpus.CorpusReader;
import io.kvgate.datasets.corpus.CorpusSpec;
import io.kvgate.datasets.corpus.CorpusSummary;
import io.kvgate.datasets.corpus.DocumentShaper;
import io.kvgate.datasets.corpus.ShapedCorpus;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.KvgateException;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.objectives.RepeatPrompts;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Everything {@code kvgate collect} (and the {@code run} pipeline's collect stage) decides, and the run itself:
 * resolve the context wrapping and repeat prompt, shape the corpus with the checkpoint's tokenizer (corpus
 * errors surface before any weights load), then collect; the weights load only if a shard needs computing.
 *
 * @param corpus          sources: paths or {@code embedded}
 * @param textField       JSONL key / Parquet column
 * @param splitParagraphs plain text: one document per paragraph
 * @param minTokens       shorter documents skipped
 * @param maxTokens       longer documents cut; 0 = the longest the model can score, at most {@link #DEFAULT_MAX_TOKENS}
 * @param concatenateTo   0 = off
 * @param maxDocuments    0 = all
 * @param settings        sampling and storage (its seed also orders the documents)
 * @param chunkSize       KVzip scoring chunk; null = auto, the resolved style's {@link RepeatPrompts#defaultChunk}
 * @param style           context/request style
 * @param contextTemplate null = per style
 * @param repeatRequest   null = per style
 */
public record CollectPlan(List<String> corpus, String textField, boolean splitParagraphs, int minTokens, int maxTokens,
                          int concatenateTo, int maxDocuments, CollectSettings settings, Integer chunkSize,
                          RepeatPrompts.Style style, String contextTemplate, String repeatRequest) {
    /** The paper's longest single documents (longer ones are cut). */
    public static final int DEFAULT_MAX_TOKENS = 30_000;

    /** Collects into {@code out}; {@code onCorpus} sees the shaped corpus summary before the model loads. */
    public CollectReport run(Checkpoint checkpoint, Device device, DataType dtype, Path out, Consumer<CorpusSummary> onCorpus) {
        try (TextTokenizer tokenizer = TextTokenizer.load(checkpoint)) {
            ScoringSetup setup = ScoringSetup.resolve(tokenizer, ChatTemplate.load(checkpoint.dir()), style, contextTemplate, repeatRequest);
            int chunk = setup.chunk(chunkSize);
            int maxPositions = checkpoint.config().maxPositions();
            int room = ModelFeatureSource.maxContext(maxPositions, setup.prompt(), chunk) - setup.context().overhead();
            int max = maxTokens > 0 ? maxTokens : Math.min(DEFAULT_MAX_TOKENS, room);
            if (max > room)
                throw new KvgateException("max tokens " + max + ": the model scores contexts of at most " + room
                        + " document tokens (" + maxPositions + " positions, reconstruction pass included)");
            if (max < minTokens)
                throw new KvgateException("min tokens " + minTokens + " is above the longest document this model can score (" + max + ")");
            CorpusSpec spec = new CorpusSpec(corpus, textField, splitParagraphs, minTokens, max, concatenateTo, maxDocuments, settings.seed());
            ShapedCorpus shaped = new DocumentShaper(spec, tokenizer::encode).withLongestContext(room).shape(new CorpusReader(spec));
            onCorpus.accept(shaped.summary());
            // weights load only if some shard still needs computing
            // the manifest's chunk_size is the resolved chunk; chunk_setting says whether it came from the model's rule
            Map<String, String> notes = new LinkedHashMap<>(setup.notes());
            notes.put("chunk_setting", ScoringChunk.format(chunkSize));
            try (ModelFeatureSource source = new ModelFeatureSource(checkpoint, device, dtype, setup.prompt(), chunk, notes)) {
                return new FeatureCollector(source, setup.context(), settings).collect(shaped, out);
            }
        }
    }
}
