package io.kvgate.datasets.corpus;

/**
 * One document as read from a corpus, before tokenisation.
 *
 * @param origin where it came from, for messages: {@code file.jsonl:12}, {@code notes.txt#3}, {@code data.parquet[40]}
 * @param text   its text
 */
public record RawDocument(String origin, String text) {}
