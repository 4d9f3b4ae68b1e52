using Csshim.TarLayer.Posix;
using System.Buffers;
using System.Text;

namespace Csshim.TarLayer;

/// <summary>
/// USTAR writer that adds a PAX header exactly when a field or record needs one (as Go's archive/tar,
/// which runsc uses): long names, big ids/sizes, sub-second mtime, xattrs. Output goes through one
/// pooled 1 MiB buffer; file data is read straight into it, or, when the output is a regular file (a FileStream that
/// can seek: csshim's O_TMPFILE for --file) and the file is large, copied by the kernel into a range of the output
/// reserved at the stream's position (BackgroundCopies), which then moves past it.
/// </summary>
internal sealed class PaxTarWriter : IDisposable
{
    const int Block = 512;
    const long MaxOctal7 = 0x1FFFFF;         // 7 octal digits
    const long MaxOctal11 = 0x1FFFFFFFF;     // 11 octal digits (8 GiB - 1)

    readonly Stream _out;
    readonly FileStream? _file;   // the output, when file data can be copied into it by offset
    readonly BackgroundCopies _copies = new(depth: 1, inlineWhenFull: false);
    byte[] _buf;
    int _len;

    public PaxTarWriter(Stream output)
    {
        _out = output;
        _buf = ArrayPool<byte>.Shared.Rent(1 << 20);
        if (output is FileStream { CanSeek: true, CanWrite: true } file
            && Fs.LStatAt((int)file.SafeFileHandle.DangerousGetHandle(), "", out var st) == 0 && st.Type == Fs.S_IFREG)
            _file = file;
    }

    public void Dispose()
    {
        _copies.Dispose();
        if (_buf.Length > 0) ArrayPool<byte>.Shared.Return(_buf);
        _buf = Array.Empty<byte>();
    }

    void Flush()
    {
        if (_len > 0) _out.Write(_buf, 0, _len);
        _len = 0;
    }

    Span<byte> Reserve(int n)
    {
        if (_buf.Length - _len < n) Flush();
        var s = _buf.AsSpan(_len, n);
        s.Clear();
        _len += n;
        return s;
    }

    /// <summary>Headers (PAX first when needed) for e; the caller then writes exactly e.Size bytes of data for files.</summary>
    public void WriteHeader(TarEntry e)
    {
        var name = e.Name;
        var pax = new List<(string Key, byte[] Value)>();
        bool splitOk = TrySplitUstarName(name, out var prefix, out var shortName);
        if (!splitOk) pax.Add(("path", Encoding.Latin1.GetBytes(name)));
        if (Encoding.Latin1.GetByteCount(e.LinkName) > 100) pax.Add(("linkpath", Encoding.Latin1.GetBytes(e.LinkName)));
        if (e.Size > MaxOctal11) pax.Add(("size", Ascii(e.Size.ToString())));
        if (e.Uid > MaxOctal7) pax.Add(("uid", Ascii(e.Uid.ToString())));
        if (e.Gid > MaxOctal7) pax.Add(("gid", Ascii(e.Gid.ToString())));
        if (e.MtimeNsec != 0 || e.MtimeSec < 0 || e.MtimeSec > MaxOctal11)
            pax.Add(("mtime", Ascii(FormatTime(e.MtimeSec, e.MtimeNsec))));
        foreach (var (k, v) in e.Xattrs) pax.Add(("SCHILY.xattr." + k, v));

        if (pax.Count > 0)
        {
            var data = PaxRecords(pax);
            // Go names the PAX header after the entry ("PaxHeaders.0/<base>"); any name is valid, keep it short.
            var ph = Reserve(Block);
            FillHeader(ph, "", TruncateName("./PaxHeaders/" + BaseName(name)), "", 0, 0, 0, data.Length, 0, (byte)'x', 0, 0);
            WriteBytes(data);
            Pad(data.Length);
        }

        byte type = e.Type switch
        {
            TarEntryType.File => (byte)'0',
            TarEntryType.HardLink => (byte)'1',
            TarEntryType.Symlink => (byte)'2',
            TarEntryType.CharDevice => (byte)'3',
            TarEntryType.BlockDevice => (byte)'4',
            TarEntryType.Directory => (byte)'5',
            TarEntryType.Fifo => (byte)'6',
            _ => throw new ArgumentOutOfRangeException(nameof(e)),
        };
        var h = Reserve(Block);
        FillHeader(h, splitOk ? prefix : "", splitOk ? shortName : TruncateName(name),
            e.LinkName.Length <= 100 ? e.LinkName : e.LinkName[..100],
            e.Mode & 0xFFF, Math.Min(e.Uid, MaxOctal7), Math.Min(e.Gid, MaxOctal7),
            e.Type == TarEntryType.File ? Math.Min(e.Size, MaxOctal11) : 0,
            Math.Clamp(e.MtimeSec, 0, MaxOctal11), type, e.DevMajor, e.DevMinor);
    }

    static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    static string FormatTime(long sec, uint nsec)
    {
        if (nsec == 0) return sec.ToString();
        if (sec < 0) { sec += 1; nsec = 1_000_000_000 - nsec; return (sec == 0 ? "-0" : sec.ToString()) + "." + nsec.ToString("D9").TrimEnd('0'); }
        return sec + "." + nsec.ToString("D9").TrimEnd('0');
    }

    static string BaseName(string name)
    {
        var t = name.TrimEnd('/');
        var i = t.LastIndexOf('/');
        return i < 0 ? t : t[(i + 1)..];
    }

    static string TruncateName(string s) => s.Length <= 100 ? s : s[..100];

    /// <summary>Fit a name into USTAR name (100) + prefix (155) split at a '/'.</summary>
    static bool TrySplitUstarName(string name, out string prefix, out string shortName)
    {
        prefix = ""; shortName = name;
        if (name.Length <= 100) return true;
        if (name.Length > 256) return false;
        for (int i = Math.Min(name.Length - 1, 155); i > 0; i--)
        {
            if (name[i] != '/') continue;
            if (name.Length - i - 1 > 100) return false;
            if (name.Length - i - 1 == 0) continue;
            prefix = name[..i]; shortName = name[(i + 1)..];
            return true;
        }
        return false;
    }

    static byte[] PaxRecords(List<(string Key, byte[] Value)> records)
    {
        using var ms = new MemoryStream();
        foreach (var (key, value) in records)
        {
            // "%d %s=%s\n" where %d counts the whole record including its own digits.
            var keyBytes = Encoding.Latin1.GetBytes(key);
            int body = 1 + keyBytes.Length + 1 + value.Length + 1;
            int len = body + 1;
            while (len.ToString().Length + body != len) len = len.ToString().Length + body;
            ms.Write(Ascii(len.ToString()));
            ms.WriteByte((byte)' ');
            ms.Write(keyBytes);
            ms.WriteByte((byte)'=');
            ms.Write(value);
            ms.WriteByte((byte)'\n');
        }
        return ms.ToArray();
    }

    static void FillHeader(Span<byte> h, string prefix, string name, string link, uint mode, long uid, long gid,
        long size, long mtime, byte type, uint major, uint minor)
    {
        Encoding.Latin1.GetBytes(name, h[..100]);
        Octal(h.Slice(100, 8), mode);
        Octal(h.Slice(108, 8), uid);
        Octal(h.Slice(116, 8), gid);
        Octal(h.Slice(124, 12), size);
        Octal(h.Slice(136, 12), mtime);
        h[156] = type;
        Encoding.Latin1.GetBytes(link, h.Slice(157, 100));
        "ustar\0"u8.CopyTo(h[257..]);
        "00"u8.CopyTo(h[263..]);
        Octal(h.Slice(329, 8), major);
        Octal(h.Slice(337, 8), minor);
        Encoding.Latin1.GetBytes(prefix, h.Slice(345, 155));
        h.Slice(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (var b in h) sum += b;
        Octal(h.Slice(148, 7), sum);
        h[155] = (byte)' ';
    }

    /// <summary>Zero-padded octal with a trailing NUL, as Go writes.</summary>
    static void Octal(Span<byte> field, long value)
    {
        int digits = field.Length - 1;
        for (int i = digits - 1; i >= 0; i--) { field[i] = (byte)('0' + (value & 7)); value >>= 3; }
        field[digits] = 0;
    }

    void WriteBytes(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            if (_len == _buf.Length) Flush();
            int n = Math.Min(data.Length, _buf.Length - _len);
            data[..n].CopyTo(_buf.AsSpan(_len));
            _len += n; data = data[n..];
        }
    }

    void Pad(long size)
    {
        int pad = (int)((Block - size % Block) % Block);
        if (pad > 0) Reserve(pad);
    }

    /// <summary>
    /// File data from fd for a header that declared `size`: a file that grew meanwhile is cut there (a consistent
    /// prefix). `done` gets 0 or the errno of a failed read or copy, and how much was copied: below `size` means the
    /// file ended early (it shrank), and then the archive is unusable: `done` must throw (fail the snapshot). Large
    /// data into a file output is copied by BackgroundCopies at its reserved offset while the walk goes on; `done` then
    /// runs on the worker, and what it throws is rethrown by the next large file or by Finish.
    /// </summary>
    public void WriteFileData(int fd, long size, Action<int, long> done)
    {
        if (_file != null && size >= PaxTarReader.DirectMin)
        {
            Flush();
            long at = _file.Position;
            _file.Position = at + size;
            Pad(size);
            int own = Fs.Dup(fd); // the caller closes fd when this returns
            if (own < 0) { done(Fs.Errno, 0); return; }
            int outFd = (int)_file.SafeFileHandle.DangerousGetHandle();
            try
            {
                _copies.Submit(new(copier =>
                {
                    int err = copier.Copy(own, 0, outFd, at, size, out long copied);
                    done(err, copied);
                }, () => Fs.Close(own)));
            }
            catch
            {
                Fs.Close(own);
                throw;
            }
            return;
        }
        long read = 0;
        while (read < size)
        {
            if (_len == _buf.Length) Flush();
            int room = (int)Math.Min(size - read, _buf.Length - _len);
            int n = Fs.Read(fd, _buf.AsSpan(_len, room));
            if (n < 0) { done(Fs.Errno, read); return; }
            if (n == 0) break;
            _len += n; read += n;
        }
        if (read == size) Pad(size);
        done(0, read);
    }

    /// <summary>End-of-archive marker (two zero blocks) and flush.</summary>
    public void Finish()
    {
        Reserve(2 * Block);
        Flush();
        _copies.Drain();
        _out.Flush();
    }
}
