using Csshim.TarLayer.Posix;
using System.Buffers;
using System.Text;

namespace Csshim.TarLayer;

/// <summary>
/// Streaming USTAR + PAX (+ GNU long name) reader that keeps xattr values byte-exact, which
/// System.Formats.Tar does not (it decodes PAX values as UTF-8). Data is handed out as slices of one
/// pooled buffer so memory stays flat whatever the archive size. When the input is a plain tar in a regular file
/// (a FileStream that can seek), the data of a file entry that is not in the read-ahead buffer is not read at all:
/// CopyDataTo has the kernel copy it from the archive file at its offset, and skipping it (Validate, Next) moves the
/// stream's position past it. Both take that path under the same conditions, so Extract and Validate read the same
/// bytes in the same order and stop at the same budget with the same message.
/// </summary>
/// <summary>File data still to copy: Length bytes at Offset of the archive file open at Fd.</summary>
internal readonly record struct ArchiveRange(int Fd, long Offset, long Length);

internal sealed class PaxTarReader : IDisposable
{
    const int Block = 512;
    const int MaxExtensionSize = 1 << 20;   // a PAX/GNU header bigger than this is an attack, not a name
    /// <summary>Below this, data left after the read-ahead buffer is read through it (one read serves many small files).</summary>
    internal const int DirectMin = 64 << 10;

    readonly Stream _in;
    readonly long _maxBytes;
    byte[] _buf;
    int _pos, _len;
    long _consumed;          // tar bytes parsed (headers, data, padding), against the byte budget
    long _dataLeft, _padLeft;
    TarEntry? _current;
    bool _done;
    readonly FileStream? _file;   // the input, when data can be copied from it by offset
    readonly int _fd = -1;
    readonly long _fileLength;

    public PaxTarReader(Stream input, long maxBytes)
    {
        _in = input;
        _maxBytes = maxBytes;
        _buf = ArrayPool<byte>.Shared.Rent(1 << 20);
        if (input is FileStream { CanSeek: true } file && Fs.LStatAt((int)file.SafeFileHandle.DangerousGetHandle(), "", out var st) == 0
            && st.Type == Fs.S_IFREG)
        {
            _file = file;
            _fd = (int)file.SafeFileHandle.DangerousGetHandle();
            _fileLength = st.Size;
        }
    }

    public void Dispose()
    {
        if (_buf.Length > 0) ArrayPool<byte>.Shared.Return(_buf);
        _buf = Array.Empty<byte>();
    }

    static ArchiveRejectedException Reject(string? name, string reason) =>
        new(name is null ? $"archive: {reason}" : $"entry '{TarEntry.Display(name)}': {reason}");

    /// <summary>Make at least `need` bytes available (need ≤ buffer size); false at clean EOF with nothing buffered.</summary>
    bool Fill(int need, string? entryName)
    {
        if (_len - _pos >= need) return true;
        if (_pos > 0) { Buffer.BlockCopy(_buf, _pos, _buf, 0, _len - _pos); _len -= _pos; _pos = 0; }
        while (_len < need)
        {
            int n = _in.Read(_buf, _len, _buf.Length - _len);
            if (n <= 0)
            {
                if (_len == 0) return false;
                throw Reject(entryName, "archive truncated");
            }
            _len += n;
        }
        return true;
    }

    /// <summary>
    /// Consume n buffered bytes of the named entry. The budget counts what is parsed, not what was read ahead, so it
    /// stops at the same byte and names the same entry however the input was buffered or copied.
    /// </summary>
    void Take(int n, string? entryName)
    {
        _pos += n;
        Count(n, entryName);
    }

    void Count(long n, string? entryName)
    {
        _consumed += n;
        if (_consumed > _maxBytes) throw Reject(entryName, $"archive exceeds the byte budget of {_maxBytes} bytes");
    }

    void Skip(long count, string? name)
    {
        while (count > 0)
        {
            if (_pos == _len && !Fill(1, name)) throw Reject(name, "archive truncated");
            int n = (int)Math.Min(count, _len - _pos);
            Take(n, name); count -= n;
        }
    }

    /// <summary>Next entry (previous entry's unread data is skipped), or null after the end-of-archive marker.</summary>
    public TarEntry? Next()
    {
        if (_current != null) { MoveData(-1, null, defer: false, out _); Skip(_padLeft, _current.Name); _padLeft = 0; _current = null; }
        if (_done) return null;

        var pax = new Dictionary<string, byte[]>();
        List<KeyValuePair<string, byte[]>>? xattrs = null;
        string? longName = null, longLink = null;
        bool first = _consumed == 0;

        while (true)
        {
            if (!Fill(Block, null))
            {
                if (first) throw Reject(null, "not a tar archive (empty input)");
                throw Reject(null, "archive truncated (no end-of-archive marker)");
            }
            var h = _buf.AsSpan(_pos, Block);
            if (h.IndexOfAnyExcept((byte)0) < 0)
            {
                Take(Block, null);
                // One zero block then EOF is accepted (some writers omit the second).
                if (Fill(Block, null) && _buf.AsSpan(_pos, Block).IndexOfAnyExcept((byte)0) >= 0)
                    throw Reject(null, "archive truncated (lone zero block inside the archive)");
                _done = true;
                return null;
            }
            var name = CString(h[..100]);
            VerifyChecksum(h, name, first);
            first = false;
            byte type = h[156];
            bool ustar = h[257..263].SequenceEqual("ustar\0"u8);
            if (ustar && h[345] != 0) name = CString(h.Slice(345, 155)) + "/" + name;
            string linkName = CString(h.Slice(157, 100));
            var e = new TarEntry
            {
                Name = name,
                LinkName = linkName,
                Mode = (uint)(ParseNumber(h.Slice(100, 8), name, "mode") & 0xFFF),
                Uid = (uint)ParseNumber(h.Slice(108, 8), name, "uid"),
                Gid = (uint)ParseNumber(h.Slice(116, 8), name, "gid"),
                Size = ParseNumber(h.Slice(124, 12), name, "size"),
                MtimeSec = ParseNumber(h.Slice(136, 12), name, "mtime"),
                DevMajor = (uint)ParseNumber(h.Slice(329, 8), name, "devmajor"),
                DevMinor = (uint)ParseNumber(h.Slice(337, 8), name, "devminor"),
            };
            Take(Block, name);

            switch (type)
            {
                case (byte)'x':
                    ParsePax(ReadExtension(e.Size, name), pax, ref xattrs, name);
                    continue;
                case (byte)'g':
                    // Global defaults: Go's and runsc's writers never emit them; read and ignore.
                    ReadExtension(e.Size, name);
                    continue;
                case (byte)'L':
                    longName = CString(ReadExtension(e.Size, name));
                    continue;
                case (byte)'K':
                    longLink = CString(ReadExtension(e.Size, name));
                    continue;
            }

            if (longName != null) e.Name = longName;
            if (longLink != null) e.LinkName = longLink;
            ApplyPax(e, pax);
            if (xattrs != null) e.Xattrs.AddRange(xattrs);

            e.Type = type switch
            {
                (byte)'0' or 0 or (byte)'7' => TarEntryType.File,
                (byte)'1' => TarEntryType.HardLink,
                (byte)'2' => TarEntryType.Symlink,
                (byte)'3' => TarEntryType.CharDevice,
                (byte)'4' => TarEntryType.BlockDevice,
                (byte)'5' => TarEntryType.Directory,
                (byte)'6' => TarEntryType.Fifo,
                _ => throw Reject(e.Name, $"unsupported entry type '{(type >= 32 && type < 127 ? ((char)type).ToString() : "\\x" + type.ToString("x2"))}'"),
            };
            if (type == 0 && e.Name.EndsWith('/')) e.Type = TarEntryType.Directory; // old V7 writers, as Go reads them
            if (e.Size < 0) throw Reject(e.Name, "negative size");
            // As Go's archive/tar: only regular files carry data; other types are header-only whatever their size.
            if (e.Type != TarEntryType.File) e.Size = 0;
            _dataLeft = e.Size; _padLeft = Pad(e.Size);
            _current = e;
            return e;
        }
    }

    static long Pad(long size) => (Block - size % Block) % Block;

    /// <summary>Next slice of the current entry's data (empty at its end). Valid until the next call.</summary>
    public ReadOnlySpan<byte> ReadData()
    {
        if (_current == null || _dataLeft == 0) return default;
        if (_pos == _len && !Fill(1, _current.Name)) throw Reject(_current.Name, "archive truncated");
        int n = (int)Math.Min(_dataLeft, _len - _pos);
        var span = _buf.AsSpan(_pos, n);
        Take(n, _current.Name); _dataLeft -= n;
        return span;
    }

    /// <summary>
    /// The rest of the current entry's data to outFd: what the read-ahead buffer holds is written from memory, the
    /// rest is copied by the kernel from the archive file when it can be (see the class). With defer, that rest is not
    /// copied but consumed and handed back as a range of the archive file, for the caller to copy (BackgroundCopies).
    /// Returns 0 or the errno of a failed write or copy; a truncated archive throws as ReadData does.
    /// </summary>
    public int CopyDataTo(int outFd, FileRangeCopier copier, bool defer, out ArchiveRange? rest) => MoveData(outFd, copier, defer, out rest);

    /// <summary>Move (outFd ≥ 0) or skip (outFd -1) the rest of the current entry's data.</summary>
    int MoveData(int outFd, FileRangeCopier? copier, bool defer, out ArchiveRange? rest)
    {
        rest = null;
        while (_dataLeft > 0)
        {
            if (DirectRangeOffset() is { } offset)
            {
                long moved = _dataLeft;
                int err = 0;
                if (outFd >= 0 && defer) rest = new ArchiveRange(_fd, offset, _dataLeft);
                else if (outFd >= 0) err = copier!.Copy(_fd, offset, outFd, -1, _dataLeft, out moved);
                _file!.Position = offset + moved;
                Count(moved, _current!.Name); _dataLeft -= moved;
                if (err != 0) return err;
                if (_dataLeft > 0) throw Reject(_current.Name, "archive truncated"); // shorter than its length said
                return 0;
            }
            var chunk = ReadData();
            if (outFd >= 0 && Fs.WriteAll(outFd, chunk) is var werr and not 0) return werr;
        }
        return 0;
    }

    /// <summary>
    /// The archive file offset of the current entry's next data byte when the rest of its data can bypass the buffer:
    /// none of it is buffered, there is enough of it, the file holds all of it and the byte budget covers it (else the
    /// buffered path reads it and reports truncation or the budget as it always did).
    /// </summary>
    long? DirectRangeOffset()
    {
        if (_file == null || _pos != _len || _dataLeft < DirectMin || _consumed + _dataLeft > _maxBytes) return null;
        long offset = _file.Position;
        return offset + _dataLeft <= _fileLength ? offset : null;
    }

    byte[] ReadExtension(long size, string name)
    {
        if (size < 0 || size > MaxExtensionSize) throw Reject(name, $"extended header of {size} bytes is too large");
        var data = new byte[size];
        int got = 0;
        while (got < size)
        {
            if (_pos == _len && !Fill(1, name)) throw Reject(name, "archive truncated");
            int n = (int)Math.Min(size - got, _len - _pos);
            Buffer.BlockCopy(_buf, _pos, data, got, n);
            Take(n, name); got += n;
        }
        Skip(Pad(size), name);
        return data;
    }

    static void VerifyChecksum(ReadOnlySpan<byte> h, string name, bool first)
    {
        long unsignedSum = UnsignedSum(h) - UnsignedSum(h.Slice(148, 8)) + 8 * ' ';
        long stored;
        try { stored = ParseNumber(h.Slice(148, 8), name, "checksum"); }
        catch (ArchiveRejectedException) { stored = -1; }
        if (stored == unsignedSum) return;
        long signedSum = unsignedSum;   // some old writers summed signed chars
        foreach (var b in h) if (b >= 0x80) signedSum -= 256;
        for (int i = 148; i < 156; i++) if (h[i] >= 0x80) signedSum += 256;
        if (stored == signedSum) return;
        bool looksTar = h[257..262].SequenceEqual("ustar"u8);
        if (first && !looksTar) throw Reject(null, "not a tar archive (no valid tar header at the start)");
        throw new ArchiveRejectedException($"entry '{TarEntry.Display(name)}': bad header checksum");
    }

    /// <summary>Byte sum, 8 bytes at a time (this runs once per header, it was a hot spot).</summary>
    static long UnsignedSum(ReadOnlySpan<byte> data)
    {
        long total = 0;
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(data);
        ulong lanes = 0;  // four 16-bit lanes; 64 words of at most 510 each cannot overflow them
        foreach (var w in words) lanes += (w & 0x00FF00FF00FF00FFUL) + ((w >> 8) & 0x00FF00FF00FF00FFUL);
        total += (long)((lanes & 0xFFFF) + ((lanes >> 16) & 0xFFFF) + ((lanes >> 32) & 0xFFFF) + (lanes >> 48));
        for (int i = words.Length * 8; i < data.Length; i++) total += data[i];
        return total;
    }

    static string CString(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return Encoding.Latin1.GetString(nul < 0 ? field : field[..nul]);
    }

    /// <summary>Octal (space/NUL padded) or GNU base-256 numeric field.</summary>
    static long ParseNumber(ReadOnlySpan<byte> f, string name, string field)
    {
        if ((f[0] & 0x80) != 0)
        {
            if ((f[0] & 0x40) != 0) throw Reject(name, $"negative {field} field");
            long v = f[0] & 0x3F;
            for (int i = 1; i < f.Length; i++)
            {
                if (v > (long.MaxValue >> 8)) throw Reject(name, $"{field} field overflows");
                v = (v << 8) | f[i];
            }
            return v;
        }
        long r = 0;
        int j = 0;
        while (j < f.Length && f[j] == ' ') j++;
        for (; j < f.Length; j++)
        {
            byte c = f[j];
            if (c == 0 || c == ' ') break;
            if (c < '0' || c > '7') throw Reject(name, $"invalid {field} field");
            if (r > (long.MaxValue >> 3)) throw Reject(name, $"{field} field overflows");
            r = r * 8 + (c - '0');
        }
        return r;
    }

    static void ParsePax(byte[] data, Dictionary<string, byte[]> pax, ref List<KeyValuePair<string, byte[]>>? xattrs, string hdrName)
    {
        int p = 0;
        while (p < data.Length)
        {
            if (data[p] == 0) break; // some writers pad with NULs
            int sp = Array.IndexOf(data, (byte)' ', p);
            if (sp < 0) throw Reject(hdrName, "malformed PAX record");
            if (!int.TryParse(Encoding.ASCII.GetString(data, p, sp - p), out int len) || len <= sp - p + 1 || p + len > data.Length || data[p + len - 1] != '\n')
                throw Reject(hdrName, "malformed PAX record");
            int eq = Array.IndexOf(data, (byte)'=', sp + 1, p + len - sp - 1);
            if (eq < 0) throw Reject(hdrName, "malformed PAX record");
            var key = Encoding.UTF8.GetString(data, sp + 1, eq - sp - 1);
            var value = data.AsSpan(eq + 1, p + len - 1 - eq - 1).ToArray();
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
            {
                // xattr names are bytes too: keep them raw.
                var xname = Encoding.Latin1.GetString(data, sp + 1 + 13, eq - sp - 1 - 13);
                xattrs ??= new();
                xattrs.RemoveAll(kv => kv.Key == xname);
                xattrs.Add(new(xname, value));
            }
            else
                pax[key] = value;
            p += len;
        }
    }

    static void ApplyPax(TarEntry e, Dictionary<string, byte[]> pax)
    {
        foreach (var (key, v) in pax)
        {
            switch (key)
            {
                case "path":
                    if (v.AsSpan().IndexOf((byte)0) >= 0) throw Reject(e.Name, "NUL in PAX path");
                    e.Name = Encoding.Latin1.GetString(v);
                    break;
                case "linkpath":
                    if (v.AsSpan().IndexOf((byte)0) >= 0) throw Reject(e.Name, "NUL in PAX linkpath");
                    e.LinkName = Encoding.Latin1.GetString(v);
                    break;
                case "size": e.Size = PaxNumber(e, key, v); break;
                case "uid": e.Uid = checked((uint)PaxNumber(e, key, v)); break;
                case "gid": e.Gid = checked((uint)PaxNumber(e, key, v)); break;
                case "mtime": ParsePaxTime(e, v); break;
                default:
                    if (key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
                        throw Reject(e.Name, "unsupported entry type (GNU sparse file)");
                    break; // atime, ctime, uname, gname, comments...: not part of an upper layer
            }
        }
    }

    static long PaxNumber(TarEntry e, string key, byte[] v)
    {
        if (!long.TryParse(Encoding.ASCII.GetString(v), System.Globalization.NumberStyles.None, null, out var n) || n < 0 || (key != "size" && n > uint.MaxValue))
            throw Reject(e.Name, $"invalid PAX {key} '{Encoding.ASCII.GetString(v)}'");
        return n;
    }

    static void ParsePaxTime(TarEntry e, byte[] v)
    {
        var s = Encoding.ASCII.GetString(v);
        var dot = s.IndexOf('.');
        var whole = dot < 0 ? s : s[..dot];
        if (!long.TryParse(whole, System.Globalization.NumberStyles.AllowLeadingSign, null, out var sec))
            throw Reject(e.Name, $"invalid PAX mtime '{s}'");
        uint nsec = 0;
        if (dot >= 0)
        {
            var frac = s[(dot + 1)..];
            if (frac.Length == 0 || !frac.All(char.IsAsciiDigit)) throw Reject(e.Name, $"invalid PAX mtime '{s}'");
            frac = frac.Length > 9 ? frac[..9] : frac.PadRight(9, '0');
            nsec = uint.Parse(frac);
            if (sec < 0 || whole.StartsWith('-')) // "-1.5" means 1.5 s before the epoch
            {
                if (nsec != 0) { sec -= 1; nsec = 1_000_000_000 - nsec; }
            }
        }
        e.MtimeSec = sec; e.MtimeNsec = nsec;
    }
}
