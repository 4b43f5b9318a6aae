"""Text files -> pretraining TFRecords: streaming tokenization and parallel example creation.

The parent process reads and tokenizes the input (in the TensorFlow graph,
batch by batch), groups documents into chunks, and hands each chunk to a
worker process that builds, masks and serializes its examples
(`examples.process_chunk`). Results come back in chunk order and are
written round-robin to the output files, so the output depends on the seed
and the chunking but not on the number of workers.

Next-sentence negatives are drawn from documents of the same chunk and
examples are shuffled within a chunk; with one chunk (inputs smaller than
`chunk_tokens`) this is exactly google-research/bert's whole-corpus behaviour.
Full sentences (RoBERTa's) are packed across the documents of a chunk, so
each chunk's last block may be short.
"""

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.data import files
from bert_tf.errors import DataError, UserError
from tasks.pretraining import examples as pretraining_data


@dataclasses.dataclass
class Stats:
    files: int = 0
    bytes: int = 0
    lines: int = 0
    documents: int = 0
    tokens: int = 0
    examples: int = 0
    seconds: float = 0.0

    def summary(self):
        mb = self.bytes / 1e6
        rate = max(self.seconds, 1e-9)
        return (f"{self.files} file(s), {mb:.1f} MB, {self.documents:,} documents, "
                f"{self.tokens:,} tokens -> {self.examples:,} examples in {self.seconds:.1f} s "
                f"({mb / rate:.2f} MB/s, {self.examples / rate:,.0f} examples/s)")


def _line_batches(path, tokenizer, batch_lines):
    """(ids ragged [L, (P)], blank [L], valid [L]) for consecutive batches of lines of a file."""
    @tf.autograph.experimental.do_not_convert  # plain ops: tracing without autograph is faster
    def tokenize(lines):
        decoded = tf.strings.unicode_decode(lines, "UTF-8", errors="replace")
        valid = tf.equal(decoded.row_lengths(),
                         tf.strings.unicode_decode(lines, "UTF-8", errors="ignore").row_lengths())
        clean = tf.strings.unicode_encode(decoded, "UTF-8")
        blank = tf.strings.regex_full_match(clean, r"[\s\p{Z}]*")
        return tokenizer.tokenize(clean), blank, valid

    return (tf.data.TextLineDataset(path).batch(batch_lines)
            .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(2))


def read_documents(files, tokenizer, stats, batch_lines=4096):
    """Yields documents (lists of int32 token arrays, one per non-empty line).

    A blank line ends a document, and so does the end of a file. A line that
    is not UTF-8 is an error naming the file and line.
    """
    for path in files:
        stats.files += 1
        stats.bytes += tf.io.gfile.stat(path).length
        document, line_number = [], 0
        for ids, blank, valid in _line_batches(path, tokenizer, batch_lines):
            values, splits = ids.values.numpy(), ids.row_splits.numpy()
            blank, valid = blank.numpy(), valid.numpy()
            if not valid.all():
                bad = line_number + int(np.argmin(valid)) + 1
                raise DataError(f"{path}:{bad}: line is not valid UTF-8")
            for i in range(len(blank)):
                if blank[i]:
                    if document:
                        yield document
                    document = []
                elif splits[i + 1] > splits[i]:
                    document.append(values[splits[i]:splits[i + 1]])
            line_number += len(blank)
            stats.lines += len(blank)
        if document:
            yield document


def chunks(documents, chunk_tokens, stats):
    """Groups documents into Chunks of about `chunk_tokens` tokens."""
    pending, size = [], 0
    for document in documents:
        pending.append(document)
        size += sum(len(s) for s in document)
        stats.documents += 1
        if size >= chunk_tokens:
            stats.tokens += size
            yield pretraining_data.Chunk.from_documents(pending)
            pending, size = [], 0
    if pending:
        stats.tokens += size
        yield pretraining_data.Chunk.from_documents(pending)


def options_for(tokenizer, **flags):
    """pretraining_data.Options with the template and vocab facts of `tokenizer`."""
    continuation = tuple(i for i, t in enumerate(tokenizer.vocab) if t.startswith("##"))
    return pretraining_data.Options(
        vocab_size=tokenizer.vocab_size, template=tokenizer.template, mask_id=tokenizer.mask_id,
        continuation_ids=continuation, **flags)


def chunk_seed(random_seed, index):
    return np.random.SeedSequence([random_seed, index])


def create_pretraining_records(input_files, output_files, tokenizer, options, random_seed=12345,
                               num_workers=None, chunk_tokens=1_000_000):
    """Writes pretraining examples for `input_files` to `output_files`; returns Stats.

    `num_workers` processes build examples while this one reads, tokenizes
    and writes; 0 builds them in this process, whose tokenization already
    runs on TensorFlow's threads beside it. The default is one worker per core
    but one, or 0 on machines of two cores or fewer (measured faster there).
    """
    start = time.perf_counter()
    stats = Stats()
    if num_workers is None:
        cores = os.cpu_count() or 1
        num_workers = cores - 1 if cores > 2 else 0
    for path in output_files:
        directory = os.path.dirname(path)
        if directory:
            tf.io.gfile.makedirs(directory)
    # Records go to temporary names, renamed to the output names only once every file is
    # complete: a crash, a full disk or bad input never leaves a cut or empty file behind.
    temporary = [files.temporary_name(path, "tmp") for path in output_files]
    writers = [tf.io.TFRecordWriter(path) for path in temporary]
    documents = read_documents(input_files, tokenizer, stats)
    work = enumerate(chunks(documents, chunk_tokens, stats))
    written = 0

    def write(serialized):
        nonlocal written
        for example in serialized:
            writers[written % len(writers)].write(example)
            written += 1

    try:
        if num_workers == 0:
            for index, chunk in work:
                write(pretraining_data.process_chunk(chunk, chunk_seed(random_seed, index), options))
        else:
            # Spawned workers import only numpy and pretraining_data; at most
            # two chunks per worker are in flight, which bounds memory.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=context) as pool:
                in_flight = collections.deque()
                for index, chunk in work:
                    in_flight.append(pool.submit(pretraining_data.process_chunk, chunk,
                                                 chunk_seed(random_seed, index), options))
                    if len(in_flight) >= 2 * num_workers:
                        write(in_flight.popleft().result())
                while in_flight:
                    write(in_flight.popleft().result())
        for writer in writers:
            writer.close()
        if stats.documents == 0:
            raise DataError(f"no text in {', '.join(input_files)}: nothing to write")
        for source, target in zip(temporary, output_files):
            tf.io.gfile.rename(source, target, overwrite=True)
    except (tf.errors.ResourceExhaustedError, OSError) as e:
        if not files.is_out_of_space(e):
            raise
        raise UserError(f"out of disk space writing {', '.join(output_files)} "
                        f"({files.first_line(e)}): nothing was written under those names and "
                        "the partial temporary files are removed; free space and run again") \
            from None
    finally:
        for writer in writers:
            writer.close()
        for path in temporary:
            files.remove_quietly(path)
    stats.examples = written
    stats.seconds = time.perf_counter() - start
    logging.info("%s", stats.summary())
    return stats
