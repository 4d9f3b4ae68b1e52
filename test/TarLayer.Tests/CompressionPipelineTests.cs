using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>Compressed restores decode on their own thread (DecodeAheadStream); gzip snapshots deflate members in parallel.</summary>
[TestFixture]
public class CompressionPipelineTests : TmpfsFixture
{
    string BigTree()
    {
        var src = NewDir("src");
        Sh.Run($"cd {Sh.Q(src)}; mkdir d; for i in $(seq 1 6); do head -c 1500000 /dev/urandom > d/r$i; head -c 1500000 /dev/zero > d/z$i; done; echo small > s");
        return src;
    }

    [Test]
    public void GzipSnapshot_IsManyMembers_ReadByUsAndByGnuTar()
    {
        var src = BigTree();
        var dir = NewDir("arch");
        var plain = new MemoryStream();
        UpperArchive.Write(src, plain);
        var gz = Path.Combine(dir, "a.tar.gz");
        using (var f = File.Create(gz)) UpperArchive.Write(src, f, ArchiveCompression.Gzip);

        File.WriteAllBytes(Path.Combine(dir, "plain.tar"), plain.ToArray());
        Sh.Run($"gzip -dc {Sh.Q(gz)} | cmp - {Sh.Q(dir)}/plain.tar");
        Assert.That(Members(File.ReadAllBytes(gz)), Is.GreaterThan(10), "one member per MiB of tar");

        var byGnu = NewDir("gnu");
        Sh.Run($"tar --xattrs --xattrs-include='*' --numeric-owner -xzpf {Sh.Q(gz)} -C {Sh.Q(byGnu)}");
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(byGnu));
        var byUs = NewDir("ours");
        using (var f = File.OpenRead(gz)) UpperArchive.Extract(f, byUs, new ExtractOptions());
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(byUs));
    }

    /// <summary>gzip member headers (1f 8b, deflate, no flags); random data cannot fake many of them.</summary>
    static int Members(byte[] gz)
    {
        int count = 0;
        for (int i = 0; i + 3 < gz.Length; i++)
            if (gz[i] == 0x1f && gz[i + 1] == 0x8b && gz[i + 2] == 8 && gz[i + 3] == 0) count++;
        return count;
    }

    [Test]
    public void EmptyTree_GzipSnapshotIsValidGzip()
    {
        var src = NewDir("src");
        var gz = Path.Combine(NewDir("arch"), "a.tar.gz");
        using (var f = File.Create(gz)) UpperArchive.Write(src, f, ArchiveCompression.Gzip);
        Sh.Run($"gzip -t {Sh.Q(gz)}; tar -tzf {Sh.Q(gz)} | grep -qx './'");
    }

    [TestCase("gzip", "gzip -c", 300_000)]
    [TestCase("gzip", "gzip -c", 3_000_000)]
    [TestCase("zstd", "zstd -q -c", 3_000_000)]
    public void CorruptCompressedStream_FailsAndLeavesNothing(string tool, string compress, int corruptAt)
    {
        if (Sh.Run($"command -v {tool} || true").Trim().Length == 0) Assert.Ignore($"{tool} not installed");
        var src = BigTree();
        var dir = NewDir("arch");
        var plain = Path.Combine(dir, "a.tar");
        using (var f = File.Create(plain)) UpperArchive.Write(src, f);
        Sh.Run($"{compress} < {Sh.Q(plain)} > {Sh.Q(plain)}.c");
        var bytes = File.ReadAllBytes(plain + ".c");
        for (int i = 0; i < 64; i++) bytes[corruptAt + i] ^= 0x5a;
        var dst = NewDir("dst");
        var ex = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(new MemoryStream(bytes), dst, new ExtractOptions()));
        Assert.That(ex!.Message, Does.Contain("corrupt compressed stream").Or.Contain("archive truncated").Or.Contain("bad header checksum"));
        Assert.That(Directory.EnumerateFileSystemEntries(dst), Is.Empty);
        Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Validate(new MemoryStream(bytes), new ExtractOptions()));
    }

    [Test]
    public void TruncatedGzip_FailsAndLeavesNothing()
    {
        var src = BigTree();
        var gz = new MemoryStream();
        UpperArchive.Write(src, gz, ArchiveCompression.Gzip);
        var cut = gz.ToArray()[..(int)(gz.Length / 2)];
        var dst = NewDir("dst");
        var ex = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(new MemoryStream(cut), dst, new ExtractOptions()));
        Assert.That(ex!.Message, Does.Contain("truncated").Or.Contain("corrupt compressed stream"));
        Assert.That(Directory.EnumerateFileSystemEntries(dst), Is.Empty);
    }

    [Test]
    public void EntryRefusedWhileTheDecoderRunsAhead_StopsTheDecoder()
    {
        // A refused entry right after a large file: the restore stops while the decode thread is chunks ahead.
        var ms = new MemoryStream();
        using (var w = new PaxTarWriter(ms))
        {
            var big = new byte[5 << 20];
            w.WriteHeader(new Csshim.TarLayer.TarEntry { Type = TarEntryType.File, Name = "./big", Mode = 0x1A4, Size = big.Length });
            w.WriteData(big);
            w.WriteHeader(new Csshim.TarLayer.TarEntry { Type = TarEntryType.File, Name = "../escape", Mode = 0x1A4 });
            for (int i = 0; i < 20; i++)
            {
                w.WriteHeader(new Csshim.TarLayer.TarEntry { Type = TarEntryType.File, Name = $"./more{i}", Mode = 0x1A4, Size = big.Length });
                w.WriteData(big);
            }
            w.Finish();
        }
        var gz = new MemoryStream();
        using (var z = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) z.Write(ms.ToArray());
        var dst = NewDir("dst");
        var restore = Task.Run(() => Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(new MemoryStream(gz.ToArray()), dst, new ExtractOptions())));
        Assert.That(restore.Wait(TimeSpan.FromSeconds(30)), Is.True, "the restore returned");
        Assert.That(restore.Result!.Message, Is.EqualTo("entry '../escape': name escapes the destination"));
        Assert.That(Directory.EnumerateFileSystemEntries(dst), Is.Empty);
    }
}
