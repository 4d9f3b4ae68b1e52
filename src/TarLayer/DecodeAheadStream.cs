using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Csshim.TarLayer;

/// <summary>
/// A decompressor read on its own thread, a few chunks ahead of the restore: decoding takes one core while the
/// entries are written on the other, instead of the two taking turns. At most Depth chunks of ChunkSize wait (plus
/// the one being read), in buffers of its own that go round (a buffer rented on one thread and returned on another
/// misses ArrayPool's per-thread caches: a fresh megabyte per chunk), so memory is bounded whatever the archive. A
/// decoder failure reaches the reader where the
/// data stops, after every byte decoded before it, as the exception the decoder threw; disposing stops the decoder
/// thread and waits for it before the input is disposed.
/// </summary>
internal sealed class DecodeAheadStream : Compression.ReadOnlyStream
{
    const int ChunkSize = 1 << 20, Depth = 3;

    /// <summary>Decoded bytes, or the end (Buffer null), or the decoder's failure.</summary>
    readonly record struct Chunk(byte[]? Buffer, int Length, ExceptionDispatchInfo? Failure);

    readonly Stream _decoder;
    readonly BlockingCollection<Chunk> _ready = new(Depth);
    readonly BlockingCollection<byte[]> _free = new();
    readonly CancellationTokenSource _stop = new();
    readonly Thread _thread;
    Chunk _current;
    int _offset;
    bool _ended;

    public DecodeAheadStream(Stream decoder)
    {
        _decoder = decoder;
        for (int i = 0; i < Depth + 2; i++) _free.Add(new byte[ChunkSize]);
        _thread = new Thread(Decode) { IsBackground = true, Name = "csshim decode" };
        _thread.Start();
    }

    void Decode()
    {
        try
        {
            while (true)
            {
                var buffer = _free.Take(_stop.Token);
                int n = 0, got;
                while (n < ChunkSize && (got = _decoder.Read(buffer, n, ChunkSize - n)) > 0) n += got;
                if (n == 0)
                {
                    _ready.Add(new Chunk(null, 0, null), _stop.Token);
                    return;
                }
                _ready.Add(new Chunk(buffer, n, null), _stop.Token);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception ex)
        {
            try { _ready.Add(new Chunk(null, 0, ExceptionDispatchInfo.Capture(ex)), _stop.Token); }
            catch (OperationCanceledException) { }
        }
    }

    public override int Read(Span<byte> buffer)
    {
        while (_current.Buffer == null || _offset == _current.Length)
        {
            if (_ended) return 0;
            Release();
            _current = _ready.Take();
            _offset = 0;
            _current.Failure?.Throw();
            if (_current.Buffer == null) { _ended = true; return 0; }
        }
        int n = Math.Min(buffer.Length, _current.Length - _offset);
        _current.Buffer.AsSpan(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    void Release()
    {
        if (_current.Buffer != null) _free.Add(_current.Buffer);
        _current = default;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Cancel();
            _thread.Join();
            Release();
            _ready.Dispose();
            _free.Dispose();
            _stop.Dispose();
            _decoder.Dispose();
        }
        base.Dispose(disposing);
    }
}
