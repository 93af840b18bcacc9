package io.kvgate.datasets.corpus;

import java.util.List;

/** The shaped documents (never empty) and the summary of how they were obtained. */
public record ShapedCorpus(List<ShapedDocument> documents, CorpusSummary summary) {}
