//! One WAL segment file: appending frames, syncing, and reading them back.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::buffer::Buffer;
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::ipc::{
    self, Block, MessageHeader,
    convert::fb_to_schema,
    reader::{FileDecoder, StreamDecoder},
};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use memmap2::MmapOptions;

use super::{WalError, segment_file_name, sync_dir};
use crate::model::Table;

const SEGMENT_MAGIC: &[u8; 8] = b"FAASWAL\n";
/// Version 2 pads the header to 16 bytes, so that every payload starts 8-byte aligned (frame
/// headers are 16 bytes and Arrow IPC streams a multiple of 8): the numbers of a mapped segment
/// are then decoded in place. Version 1 segments (a 12-byte header) are still read; their 8-byte
/// numbers are copied to aligned memory as they are decoded.
const SEGMENT_VERSION: u32 = 2;
const SEGMENT_HEADER_LEN: u64 = 16;
const SEGMENT_V1_HEADER_LEN: usize = 12;
const RECORD_MAGIC: u32 = 0xFAA5_0B5E;
const RECORD_VERSION: u8 = 1;
const FRAME_HEADER_LEN: usize = 16;

/// Encodes one record frame (header and Arrow IPC payload) for `batch` of `table`. The payload is
/// written in place after the header, which is filled in once its length and checksum are known.
pub fn encode_frame(table: Table, batch: &RecordBatch) -> Result<Vec<u8>, WalError> {
    let mut frame = Vec::with_capacity(frame_room(batch));
    frame.resize(FRAME_HEADER_LEN, 0);
    {
        let mut writer =
            StreamWriter::try_new(&mut frame, &batch.schema()).map_err(WalError::Encode)?;
        writer.write(batch).map_err(WalError::Encode)?;
        writer.finish().map_err(WalError::Encode)?;
    }
    let len = u32::try_from(frame.len() - FRAME_HEADER_LEN).map_err(|_| {
        WalError::Encode(ArrowError::InvalidArgumentError(
            "a single write is larger than 4 GiB".into(),
        ))
    })?;
    frame[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    frame[4] = RECORD_VERSION;
    frame[5] = table.wal_tag();
    // Bytes 6..8 are reserved and stay zero (from the `resize` above).
    frame[8..12].copy_from_slice(&len.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[4..12]);
    crc.update(&frame[FRAME_HEADER_LEN..]);
    let crc = crc.finalize();
    frame[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// The bytes reserved for the frame of `batch`: its memory (its buffers' capacity, which their
/// IPC encoding does not pass but for a little metadata), so that the frame is allocated once. In
/// the ingest benchmark a segment's frames were 0.92 of its batches' memory; reserved at half of
/// it, every frame was reallocated and copied as it grew.
fn frame_room(batch: &RecordBatch) -> usize {
    FRAME_HEADER_LEN + batch.get_array_memory_size() + 1024
}

/// The open segment that writes are appended to.
pub struct SegmentWriter {
    id: u64,
    path: PathBuf,
    file: File,
    len: u64,
    records: u64,
    opened: Instant,
}

impl SegmentWriter {
    /// Creates segment `id` in `dir`, writes its header and makes the file's existence durable.
    /// A file it created and could not finish (a full disk) is removed again, so that creating
    /// the segment can be retried: left behind, it failed every later try as existing, and the
    /// WAL never moved on to a next segment again.
    pub fn create(dir: &Path, id: u64) -> Result<SegmentWriter, WalError> {
        fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let path = dir.join(segment_file_name(id));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| WalError::io(&path, e))?;
        let mut header = Vec::with_capacity(SEGMENT_HEADER_LEN as usize);
        header.extend_from_slice(SEGMENT_MAGIC);
        header.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
        // Bytes 12..16 are reserved and zero.
        header.resize(SEGMENT_HEADER_LEN as usize, 0);
        let written = file
            .write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(|e| WalError::io(&path, e))
            .and_then(|()| sync_dir(dir));
        if let Err(e) = written {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(SegmentWriter {
            id,
            path,
            file,
            len: SEGMENT_HEADER_LEN,
            records: 0,
            opened: Instant::now(),
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes in the segment, header included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True while no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// When the segment was created.
    pub fn opened(&self) -> Instant {
        self.opened
    }

    /// Appends the frames of one write, all or nothing. Not durable until [`Self::sync`].
    pub fn append(&mut self, frames: &[Vec<u8>]) -> Result<(), WalError> {
        let start = self.len;
        let mut result = Ok(());
        for frame in frames {
            result = self.file.write_all(frame);
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => {
                self.len += frames.iter().map(|f| f.len() as u64).sum::<u64>();
                self.records += frames.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut the partial write off so the segment holds only whole writes.
                let _ = self.file.set_len(start);
                let _ = self.file.seek(SeekFrom::Start(start));
                Err(WalError::io(&self.path, e))
            }
        }
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.file
            .sync_data()
            .map_err(|e| WalError::io(&self.path, e))
    }
}

/// What a segment holds, as far as it could be read.
#[derive(Debug)]
pub struct SegmentContents {
    /// The records that were read whole, in order.
    pub records: Vec<(Table, RecordBatch)>,
    /// Bytes that were read as whole records, header included.
    pub valid_len: u64,
    /// Bytes after the last whole record (a torn write or damage), with the reason reading stopped.
    pub trailing: Option<(u64, String)>,
}

/// Reads a segment, stopping at the first frame that is incomplete or fails its CRC. The file is
/// copied into memory once, so the segment may be one another process is still appending to (a
/// query reading rows not yet in Parquet); the batches are decoded without a further copy.
pub fn read_segment(path: &Path) -> Result<SegmentContents, WalError> {
    let bytes = fs::read(path).map_err(|e| WalError::io(path, e))?;
    parse_segment(path, Buffer::from_vec(bytes))
}

/// [`read_segment`] of a closed segment, which nothing appends to or truncates any more: the file
/// is mapped instead of copied, and the batches point into the mapping until they are dropped.
/// Copying a 96 MiB segment into fresh memory, and then every batch out of it, was about a
/// tenth of the collector's CPU under load (see docs/benchmarks-history.md).
pub fn read_closed_segment(path: &Path) -> Result<SegmentContents, WalError> {
    let file = File::open(path).map_err(|e| WalError::io(path, e))?;
    let len = file.metadata().map_err(|e| WalError::io(path, e))?.len();
    if len == 0 {
        // An empty file cannot be mapped.
        return parse_segment(path, Buffer::from_vec(Vec::<u8>::new()));
    }
    // SAFETY: the mapping is read-only and its contents must not change while it is alive. A
    // closed segment is never written again: the store appends only to the open segment, and
    // only the process holding the data directory's LOCK writes the WAL. Deleting the file
    // while it is mapped is safe (the mapping keeps it alive).
    let mapping =
        unsafe { MmapOptions::new().populate().map(&file) }.map_err(|e| WalError::io(path, e))?;
    parse_segment(path, Buffer::from(Bytes::from_owner(mapping)))
}

fn parse_segment(path: &Path, bytes: Buffer) -> Result<SegmentContents, WalError> {
    // A crash while creating the segment: nothing was ever appended to it.
    let incomplete_header = || SegmentContents {
        records: Vec::new(),
        valid_len: 0,
        trailing: (!bytes.is_empty()).then(|| (bytes.len() as u64, "incomplete header".into())),
    };
    if bytes.len() < SEGMENT_V1_HEADER_LEN {
        return Ok(incomplete_header());
    }
    if &bytes[0..8] != SEGMENT_MAGIC {
        return Err(WalError::BadHeader {
            path: path.to_path_buf(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let header_len = match version {
        1 => SEGMENT_V1_HEADER_LEN,
        SEGMENT_VERSION => SEGMENT_HEADER_LEN as usize,
        _ => {
            return Err(WalError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
    };
    if bytes.len() < header_len {
        return Ok(incomplete_header());
    }
    let mut records = Vec::new();
    let mut offset = header_len;
    let stop = |offset: usize, why: &str| Some(((bytes.len() - offset) as u64, why.to_string()));
    let trailing = loop {
        if offset == bytes.len() {
            break None;
        }
        if bytes.len() - offset < FRAME_HEADER_LEN {
            break stop(offset, "incomplete frame header");
        }
        let header = &bytes[offset..offset + FRAME_HEADER_LEN];
        if u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) != RECORD_MAGIC {
            break stop(offset, "bad record magic");
        }
        if header[4] != RECORD_VERSION {
            break stop(offset, "unsupported record version");
        }
        let Some(table) = Table::from_wal_tag(header[5]) else {
            break stop(offset, "unknown table tag");
        };
        let len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
        let expected_crc = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
        let payload_start = offset + FRAME_HEADER_LEN;
        if bytes.len() - payload_start < len {
            break stop(offset, "incomplete payload");
        }
        let payload = bytes.slice_with_length(payload_start, len);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header[4..12]);
        crc.update(&payload);
        if crc.finalize() != expected_crc {
            break stop(offset, "CRC mismatch");
        }
        // SAFETY: the frame was written by `encode_frame` from a valid batch, and its CRC
        // matched: the payload is the bytes that were written.
        match unsafe { decode_checked_payload(payload) } {
            // A segment written before an upgrade holds rows of the earlier schema.
            Ok(batches) => records.extend(batches.into_iter().map(|b| (table, table.upgrade(b)))),
            Err(e) => break stop(offset, &format!("undecodable payload: {e}")),
        }
        offset = payload_start + len;
    };
    Ok(SegmentContents {
        records,
        valid_len: offset as u64,
        trailing,
    })
}

/// Decodes an Arrow IPC stream that faasobs wrote (a WAL frame's payload, or a scratch file of an
/// hour merge), validating every array as it is decoded. The arrays share `payload`'s memory;
/// only buffers that are not aligned for their type are copied.
pub(crate) fn decode_payload(payload: Buffer) -> Result<Vec<RecordBatch>, ArrowError> {
    decode_stream(StreamDecoder::new(), payload)
}

/// [`decode_payload`] without validating the arrays: their offsets, UTF-8 and nulls are taken as
/// written. Validating a segment's arrays (mostly the UTF-8 of its texts and their offsets) was
/// about a third of reading it back, for bytes that `encode_frame` wrote from valid arrays and
/// that passed their CRC since.
///
/// arrow-ipc's `StreamDecoder::with_skip_validation` does not reach the record batches it decodes
/// (in arrow-ipc 59.3 only its dictionaries skip validation), so the stream's messages are walked
/// here, a schema message and then record batches, each decoded by a `FileDecoder`, which does
/// skip it. A stream holding any other message (a dictionary, which `encode_frame` never writes
/// for the store's tables) is decoded by the `StreamDecoder` instead, validated.
///
/// # Safety
/// `payload` must be the payload of a frame written by [`encode_frame`] whose CRC matched.
unsafe fn decode_checked_payload(payload: Buffer) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut decoder: Option<FileDecoder> = None;
    let mut batches = Vec::new();
    let mut offset = 0;
    while offset < payload.len() {
        let Some(framed) = ipc_message_at(&payload, offset)? else {
            // The end-of-stream marker.
            break;
        };
        let message = framed.message;
        match message.header_type() {
            MessageHeader::Schema => {
                let schema = message
                    .header_as_schema()
                    .map(fb_to_schema)
                    .ok_or_else(|| ArrowError::IpcError("unreadable schema message".into()))?;
                let file_decoder = FileDecoder::new(Arc::new(schema), message.version());
                // SAFETY: the caller guarantees the payload is an unaltered IPC stream of valid
                // arrays.
                decoder = Some(unsafe { file_decoder.with_skip_validation(true) });
            }
            MessageHeader::RecordBatch => {
                let decoder = decoder
                    .as_ref()
                    .ok_or_else(|| ArrowError::IpcError("record batch before schema".into()))?;
                let block = Block::new(0, framed.metadata_len as i32, framed.body_len as i64);
                let bytes = payload.slice_with_length(offset, framed.len());
                batches.extend(decoder.read_record_batch(&block, &bytes)?);
            }
            _ => return decode_payload(payload),
        }
        offset += framed.len();
    }
    Ok(batches)
}

/// An encapsulated IPC message in a stream: a continuation marker (`0xFFFFFFFF`), the length of
/// the message's flatbuffer, the flatbuffer and its padding (`metadata_len` bytes in all), then
/// the body.
struct FramedMessage<'a> {
    message: ipc::Message<'a>,
    metadata_len: usize,
    body_len: usize,
}

impl FramedMessage<'_> {
    fn len(&self) -> usize {
        self.metadata_len + self.body_len
    }
}

/// The message that starts at `offset` of `stream`, or `None` at the end-of-stream marker.
fn ipc_message_at(stream: &[u8], offset: usize) -> Result<Option<FramedMessage<'_>>, ArrowError> {
    let malformed = |what: &str| ArrowError::IpcError(format!("{what} at byte {offset}"));
    let prefix = stream
        .get(offset..offset + 8)
        .ok_or_else(|| malformed("incomplete message prefix"))?;
    if prefix[..4] != [0xff; 4] {
        return Err(malformed("no continuation marker"));
    }
    let flatbuffer_len = u32::from_le_bytes(prefix[4..8].try_into().expect("4 bytes")) as usize;
    if flatbuffer_len == 0 {
        return Ok(None);
    }
    let metadata_len = 8 + flatbuffer_len;
    let message = stream
        .get(offset + 8..offset + metadata_len)
        .and_then(|bytes| ipc::root_as_message(bytes).ok())
        .ok_or_else(|| malformed("unreadable message"))?;
    let body_len =
        usize::try_from(message.bodyLength()).map_err(|_| malformed("bad body length"))?;
    if stream.len() - offset < metadata_len + body_len {
        return Err(malformed("incomplete message body"));
    }
    Ok(Some(FramedMessage {
        message,
        metadata_len,
        body_len,
    }))
}

fn decode_stream(
    mut decoder: StreamDecoder,
    mut payload: Buffer,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut batches = Vec::new();
    while !payload.is_empty() {
        if let Some(batch) = decoder.decode(&mut payload)? {
            batches.push(batch);
        }
    }
    decoder.finish()?;
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Invocation, Records};

    fn records(n: usize) -> Records {
        Records {
            invocations: (0..n)
                .map(|i| Invocation {
                    function_name: "f".into(),
                    request_id: format!("r{i}"),
                    start_time: i as i64,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The records of `frames(3)` and then `frames(2)`.
    fn three_then_two() -> Vec<(Table, RecordBatch)> {
        records(3)
            .to_batches()
            .into_iter()
            .chain(records(2).to_batches())
            .collect()
    }

    fn frames(n: usize) -> Vec<Vec<u8>> {
        records(n)
            .to_batches()
            .iter()
            .map(|(t, b)| encode_frame(*t, b).unwrap())
            .collect()
    }

    #[test]
    fn appended_records_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 1).unwrap();
        w.append(&frames(3)).unwrap();
        w.append(&frames(2)).unwrap();
        w.sync().unwrap();
        let path = dir.path().join(segment_file_name(1));
        let contents = read_segment(&path).unwrap();
        assert!(contents.trailing.is_none());
        assert_eq!(contents.records.len(), 2);
        assert_eq!(contents.records[0].1.num_rows(), 3);
        assert_eq!(contents.records[1].1.num_rows(), 2);
        assert_eq!(contents.valid_len, w.len());
        assert_eq!(contents.records, three_then_two());
        assert_same_contents(&read_closed_segment(&path).unwrap(), &contents);
    }

    fn assert_same_contents(mapped: &SegmentContents, copied: &SegmentContents) {
        assert_eq!(mapped.records, copied.records);
        assert_eq!(mapped.valid_len, copied.valid_len);
        assert_eq!(mapped.trailing, copied.trailing);
    }

    #[test]
    fn an_empty_or_headerless_segment_holds_no_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wal");
        for (bytes, trailing) in [(&b""[..], None), (&b"FAASW"[..], Some(5))] {
            fs::write(&path, bytes).unwrap();
            for contents in [read_segment(&path), read_closed_segment(&path)] {
                let contents = contents.unwrap();
                assert!(contents.records.is_empty());
                assert_eq!(contents.valid_len, 0);
                assert_eq!(contents.trailing.map(|(len, _)| len), trailing);
            }
        }
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_earlier_ones_survive() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 7).unwrap();
        w.append(&frames(4)).unwrap();
        w.sync().unwrap();
        let whole = w.len();
        let path = dir.path().join(segment_file_name(7));
        // Simulate a crash in the middle of the next write.
        let torn = &frames(5)[0];
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&torn[..torn.len() / 2]).unwrap();
        let contents = read_segment(&path).unwrap();
        assert_same_contents(&read_closed_segment(&path).unwrap(), &contents);
        assert_eq!(contents.records.len(), 1);
        assert_eq!(contents.valid_len, whole);
        assert_eq!(contents.trailing.unwrap().1, "incomplete payload");
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 2).unwrap();
        w.append(&frames(1)).unwrap();
        w.append(&frames(1)).unwrap();
        w.sync().unwrap();
        let path = dir.path().join(segment_file_name(2));
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let contents = read_segment(&path).unwrap();
        assert_same_contents(&read_closed_segment(&path).unwrap(), &contents);
        assert_eq!(contents.records.len(), 1);
        assert_eq!(contents.trailing.unwrap().1, "CRC mismatch");
    }

    /// Every frame's payload of a new segment is 8-byte aligned, so that decoding copies no
    /// buffer: each decodes with arrow's alignment required (an error for a misaligned buffer).
    #[test]
    fn payloads_start_aligned_and_decode_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 3).unwrap();
        for n in [1, 3, 7, 2] {
            w.append(&frames(n)).unwrap();
        }
        w.sync().unwrap();
        let bytes = Buffer::from_vec(fs::read(dir.path().join(segment_file_name(3))).unwrap());
        let mut offset = SEGMENT_HEADER_LEN as usize;
        let mut payloads = 0;
        while offset < bytes.len() {
            let len = u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().unwrap());
            let start = offset + FRAME_HEADER_LEN;
            assert_eq!(
                bytes[start..].as_ptr() as usize % 8,
                0,
                "payload at {start}"
            );
            let payload = bytes.slice_with_length(start, len as usize);
            let batches =
                decode_stream(StreamDecoder::new().with_require_alignment(true), payload).unwrap();
            assert_eq!(batches.len(), 1);
            payloads += 1;
            offset = start + len as usize;
        }
        assert_eq!(payloads, 4);
    }

    /// A batch of spans with every kind of column: nested attribute maps, a list of events,
    /// nulls, fixed-size ids.
    fn span_batch() -> RecordBatch {
        let mut builder = crate::model::SpanBuilder::default();
        crate::model::span::append_example_rows(&mut builder);
        builder.finish()
    }

    /// A frame of a request's worth of spans is written into the room reserved for it, without
    /// growing (and so being copied) on the way.
    #[test]
    fn a_frame_fits_the_room_reserved_for_its_batch() {
        let mut builder = crate::model::SpanBuilder::default();
        for _ in 0..100 {
            crate::model::span::append_example_rows(&mut builder);
        }
        let batch = builder.finish();
        assert!(batch.num_rows() >= 100);
        let frame = encode_frame(Table::Spans, &batch).unwrap();
        assert!(frame.len() <= frame_room(&batch));
        assert_eq!(
            frame.capacity(),
            frame_room(&batch),
            "the frame outgrew the room reserved for it"
        );
    }

    /// The unvalidated decoding of a checked frame gives the same batches as the validated one.
    #[test]
    fn checked_payloads_decode_as_validated_ones_do() {
        let mut batches = records(3).to_batches();
        batches.push((Table::Spans, span_batch()));
        for (table, batch) in batches {
            let frame = encode_frame(table, &batch).unwrap();
            let payload = Buffer::from_vec(frame[FRAME_HEADER_LEN..].to_vec());
            let validated = decode_payload(payload.clone()).unwrap();
            // SAFETY: the payload is an unaltered frame's, just encoded.
            let unvalidated = unsafe { decode_checked_payload(payload) }.unwrap();
            assert_eq!(validated, vec![batch.clone()]);
            assert_eq!(unvalidated, validated, "{table:?}");
        }
    }

    /// A checked frame's arrays are not validated again: a text that is not UTF-8, which the
    /// validated decoding refuses, goes through. (A real frame's CRC ensures that its texts are the
    /// valid ones written.)
    #[test]
    fn checked_payloads_are_not_validated_again() {
        let batch = span_batch();
        let frame = encode_frame(Table::Spans, &batch).unwrap();
        let mut payload = frame[FRAME_HEADER_LEN..].to_vec();
        let at = payload
            .windows(5)
            .position(|w| w == b"GET /")
            .expect("the span's name is in the payload");
        payload[at] = 0xff;
        let payload = Buffer::from_vec(payload);
        let refused = decode_payload(payload.clone()).unwrap_err();
        assert!(refused.to_string().contains("Invalid UTF8"), "{refused}");
        // SAFETY: not upheld on purpose; the test reads no text of the batch.
        let decoded = unsafe { decode_checked_payload(payload) }.unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].num_rows(), batch.num_rows());
    }

    /// A segment of format version 1 (a 12-byte header), left by an earlier build, still reads.
    #[test]
    fn a_version_1_segment_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_file_name(4));
        let mut bytes = SEGMENT_MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        for frame in frames(3).iter().chain(&frames(2)) {
            bytes.extend_from_slice(frame);
        }
        fs::write(&path, &bytes).unwrap();
        let contents = read_segment(&path).unwrap();
        assert_same_contents(&read_closed_segment(&path).unwrap(), &contents);
        assert!(contents.trailing.is_none());
        assert_eq!(contents.valid_len, bytes.len() as u64);
        assert_eq!(contents.records, three_then_two());
        // A version 2 header cut short is an incomplete header, as an empty file is.
        let mut short = SEGMENT_MAGIC.to_vec();
        short.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
        short.push(0);
        fs::write(&path, &short).unwrap();
        let contents = read_segment(&path).unwrap();
        assert!(contents.records.is_empty());
        assert_eq!(contents.trailing.map(|(len, _)| len), Some(13));
    }

    /// A segment an earlier build left, whose invocation rows lack the columns added since
    /// (schema version 2: `cold_start_inferred`), reads as rows of the current schema, that
    /// column null, so that its flush writes files of the current schema.
    #[test]
    fn rows_of_an_earlier_schema_read_as_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let version_2 = crate::model::invocation::version_2_batch(&records(3).invocations);
        let schema = Table::Invocations.schema();
        let inferred = schema.index_of("cold_start_inferred").unwrap();
        let kept: Vec<usize> = (0..schema.fields().len())
            .filter(|&c| c != inferred)
            .collect();
        let mut w = SegmentWriter::create(dir.path(), 1).unwrap();
        w.append(&[encode_frame(Table::Invocations, &version_2).unwrap()])
            .unwrap();
        w.sync().unwrap();
        let path = dir.path().join(segment_file_name(1));
        for contents in [read_segment(&path), read_closed_segment(&path)] {
            let (table, batch) = contents.unwrap().records.remove(0);
            assert_eq!(table, Table::Invocations);
            assert_eq!(batch.schema(), Table::Invocations.schema());
            assert_eq!(batch.column(inferred).null_count(), 3);
            assert_eq!(batch.project(&kept).unwrap(), version_2);
        }
    }

    #[test]
    fn a_file_that_is_not_a_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wal");
        fs::write(&path, b"definitely not a wal segment").unwrap();
        assert!(matches!(
            read_segment(&path),
            Err(WalError::BadHeader { .. })
        ));
    }
}
