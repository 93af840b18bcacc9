package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.Model;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.trainer.collect.ScoringSetup;

/**
 * The checkpoint, its tokenizer and its KVzip scoring setup as a stage needs them; the weights are loaded only
 * when asked ({@link #model()}), so input problems surface first. Collect and eval resolve the scoring setup the
 * same way, so the oracle policy scores with the gates' request and context format; its chunk is
 * {@code eval.kvzip_chunk}, the gates' is {@code scoring.chunk_size}, and both default to the model's rule
 * ({@link ScoringSetup#chunk}).
 */
final class ModelSession implements AutoCloseable {
    private final ExperimentConfig cfg;
    private final Checkpoint checkpoint;
    private final TextTokenizer tokenizer;
    private final ScoringSetup scoring;
    private Model model;

    ModelSession(ExperimentConfig cfg) {
        this.cfg = cfg;
        this.checkpoint = Checkpoint.open(cfg.model().path());
        try {
            this.tokenizer = TextTokenizer.load(checkpoint);
            this.scoring = ScoringSetup.resolve(tokenizer, ChatTemplate.load(checkpoint.dir()), cfg.scoring().style(),
                    cfg.corpus().contextTemplate(), cfg.scoring().request());
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    Checkpoint checkpoint() {
        return checkpoint;
    }

    TextTokenizer tokenizer() {
        return tokenizer;
    }

    ScoringSetup scoring() {
        return scoring;
    }

    Model model() {
        if (model == null) {
            ComputeTarget target = cfg.model().target();
            model = Model.load(checkpoint, target.device(), target.dtype());
        }
        return model;
    }

    @Override
    public void close() {
        if (model != null) model.close();
        tokenizer.close();
        checkpoint.close();
    }
}
