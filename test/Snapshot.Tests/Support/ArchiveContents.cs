using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Csshim.Tests.Rig;
using NUnit.Framework;

namespace Csshim.Snapshot.Tests.Support;

/// <summary>One entry of a snapshot archive, PAX records applied; record values are kept as raw bytes.</summary>
public sealed record ArchivedEntry(
    string Name, TarEntryType Type, UnixFileMode Mode, int Uid, int Gid, string LinkName, int DevMajor, int DevMinor,
    IReadOnlyDictionary<string, byte[]> Pax, byte[] Data)
{
    public bool IsWhiteout => Type == TarEntryType.CharacterDevice && DevMajor == 0 && DevMinor == 0;
    public string? Xattr(string name) => Pax.TryGetValue("SCHILY.xattr." + name, out var v) ? Encoding.UTF8.GetString(v) : null;
    public string Text => Encoding.UTF8.GetString(Data);
    public override string ToString() => $"{Name} {Type} mode {Convert.ToString((int)Mode, 8)} {Uid}:{Gid} link '{LinkName}' dev {DevMajor},{DevMinor}";
}

/// <summary>
/// The entries of an archive by name, decompressed by magic as csshim's restore does. A small USTAR+PAX reader of
/// its own (not csshim's): System.Formats.Tar rejects PAX records whose values are not UTF-8, and a test must be
/// able to read such an archive to say what is wrong with it.
/// </summary>
public static class ArchiveContents
{
    private const int Block = 512;
    private static readonly byte[] Gzip = { 0x1f, 0x8b };
    private static readonly byte[] Zstd = { 0x28, 0xb5, 0x2f, 0xfd };

    public static Dictionary<string, ArchivedEntry> Read(string path)
    {
        var head = Head(path, 4);
        if (head.AsSpan().StartsWith(Zstd)) return ReadZstd(path);
        using var file = File.OpenRead(path);
        using var stream = head.AsSpan().StartsWith(Gzip) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        using var plain = new MemoryStream();
        stream.CopyTo(plain);
        return Parse(plain.ToArray(), path);
    }

    public static byte[] Head(string path, int count)
    {
        using var file = File.OpenRead(path);
        var buffer = new byte[count];
        return buffer[..file.ReadAtLeast(buffer, count, throwOnEndOfStream: false)];
    }

    private static Dictionary<string, ArchivedEntry> ReadZstd(string path)
    {
        var plain = path + ".plain";
        var r = ProcessRunner.Run("/usr/bin/zstd", new[] { "-d", "-q", "-f", "-o", plain, path });
        Assert.That(r.ExitCode, Is.Zero, $"zstd could not decompress {path}: {r}");
        try { return Parse(File.ReadAllBytes(plain), path); }
        finally { File.Delete(plain); }
    }

    private static Dictionary<string, ArchivedEntry> Parse(byte[] tar, string path)
    {
        var entries = new Dictionary<string, ArchivedEntry>();
        var pax = new Dictionary<string, byte[]>();
        for (int at = 0; at + Block <= tar.Length;)
        {
            var h = tar.AsSpan(at, Block);
            if (!h.ContainsAnyExcept((byte)0)) break; // end-of-archive blocks
            long size = Octal(h.Slice(124, 12));
            var data = tar.AsSpan(at + Block, (int)size).ToArray();
            at += Block + (int)((size + Block - 1) / Block * Block);
            char type = (char)h[156];
            if (type == 'x') { pax = Records(data, path); continue; }
            Assert.That(type, Is.Not.EqualTo('g').And.Not.EqualTo('L').And.Not.EqualTo('K'), $"{path}: unexpected header type {type}");
            var prefix = Text(h.Slice(345, 155));
            var name = pax.TryGetValue("path", out var p) ? Encoding.UTF8.GetString(p)
                : prefix.Length > 0 ? prefix + "/" + Text(h[..100]) : Text(h[..100]);
            var link = pax.TryGetValue("linkpath", out var l) ? Encoding.UTF8.GetString(l) : Text(h.Slice(157, 100));
            var entry = new ArchivedEntry(name, type == '\0' ? TarEntryType.RegularFile : (TarEntryType)type,
                (UnixFileMode)Octal(h.Slice(100, 8)),
                pax.TryGetValue("uid", out var u) ? int.Parse(Encoding.ASCII.GetString(u)) : (int)Octal(h.Slice(108, 8)),
                pax.TryGetValue("gid", out var g) ? int.Parse(Encoding.ASCII.GetString(g)) : (int)Octal(h.Slice(116, 8)),
                link, (int)Octal(h.Slice(329, 8)), (int)Octal(h.Slice(337, 8)), pax, data);
            Assert.That(entries.ContainsKey(name), Is.False, $"{path}: entry {name} appears twice");
            entries[name] = entry;
            pax = new Dictionary<string, byte[]>();
        }
        return entries;
    }

    /// <summary>PAX records "LEN key=value\n", LEN counting bytes of the whole record.</summary>
    private static Dictionary<string, byte[]> Records(byte[] data, string path)
    {
        var records = new Dictionary<string, byte[]>();
        for (int at = 0; at < data.Length;)
        {
            int space = Array.IndexOf(data, (byte)' ', at);
            Assert.That(space, Is.GreaterThan(at), $"{path}: malformed PAX record at {at}");
            int length = int.Parse(Encoding.ASCII.GetString(data, at, space - at));
            var record = data.AsSpan(space + 1, length - (space + 1 - at) - 1); // without the final \n
            int eq = record.IndexOf((byte)'=');
            records[Encoding.UTF8.GetString(record[..eq])] = record[(eq + 1)..].ToArray();
            at += length;
        }
        return records;
    }

    private static string Text(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    private static long Octal(ReadOnlySpan<byte> field)
    {
        var s = Text(field).Trim(' ', '\0');
        return s.Length == 0 ? 0 : Convert.ToInt64(s, 8);
    }
}
