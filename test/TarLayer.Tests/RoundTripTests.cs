using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

[TestFixture]
public class RoundTripTests : TmpfsFixture
{
    [TestCase(ArchiveCompression.None)]
    [TestCase(ArchiveCompression.Gzip)]
    [TestCase(ArchiveCompression.Zstd)]
    public void DirToArchiveToDir_KeepsEveryAttribute(ArchiveCompression compression)
    {
        var src = NewDir("src");
        Tree.BuildRich(src);
        var archive = new MemoryStream();
        UpperArchive.Write(src, archive, compression);
        var dst = NewDir("dst");
        archive.Position = 0;
        var result = UpperArchive.Extract(archive, dst, new ExtractOptions());

        var expected = Tree.Describe(src);
        Tree.AssertSame(expected, Tree.Describe(dst));
        Assert.That(result.Entries, Is.GreaterThanOrEqualTo(expected.Count));
        Assert.That(result.Bytes, Is.GreaterThan(3_000_000));
    }

    [Test]
    public void ArchiveToDirToArchive_IsEquivalent()
    {
        var src = NewDir("src");
        Tree.BuildRich(src);
        var first = new MemoryStream();
        UpperArchive.Write(src, first);
        var dst = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(first.ToArray()), dst, new ExtractOptions());
        var second = new MemoryStream();
        UpperArchive.Write(dst, second);
        Assert.That(Entries(second.ToArray()).Select(Text), Is.EqualTo(Entries(first.ToArray()).Select(Text)));
    }

    [TestCase("xz", "xz -c")]
    [TestCase("bzip2", "bzip2 -c")]
    [TestCase("zstd", "zstd -q -c")]
    [TestCase("multi-member gzip", "split -b 4096 --filter='gzip -c' -")]
    public void Restore_DetectsCompressionByMagic(string what, string compressor)
    {
        var src = NewDir("src");
        Sh.Run($"cd {Sh.Q(src)}; mkdir d; head -c 100000 /dev/urandom > d/f; ln -s d/f s");
        var plain = Path.Combine(NewDir("arch"), "a.tar");
        using (var f = File.Create(plain)) UpperArchive.Write(src, f);
        if (Sh.Run($"command -v {compressor.Split(' ')[0]} || true").Trim().Length == 0) Assert.Ignore($"{compressor} not installed");
        Sh.Run($"{compressor} < {Sh.Q(plain)} > {Sh.Q(plain)}.c");
        var dst = NewDir("dst");
        using (var f = File.OpenRead(plain + ".c")) UpperArchive.Extract(f, dst, new ExtractOptions());
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(dst));
    }

    [Test]
    public void Write_LayoutIsRunscs()
    {
        var src = NewDir("src");
        Tree.BuildRich(src);
        var ms = new MemoryStream();
        UpperArchive.Write(src, ms);
        var entries = Entries(ms.ToArray());
        Assert.That(entries[0].Name, Is.EqualTo("./"));
        var names = entries.Select(e => e.Name).ToList();
        foreach (var e in entries)
        {
            Assert.That(e.Name, Does.StartWith("./"));
            Assert.That(e.Name.EndsWith('/'), Is.EqualTo(e.Type == TarEntryType.Directory), e.Name);
            var parent = e.Name.TrimEnd('/');
            parent = parent[..(parent.LastIndexOf('/') + 1)];
            Assert.That(names.IndexOf(parent), Is.LessThan(names.IndexOf(e.Name)), $"parent of {e.Name} first");
        }
        var hl = entries.Where(e => e.Type == TarEntryType.HardLink).ToList();
        Assert.That(hl.Select(e => e.LinkName).Distinct(), Is.EqualTo(new[] { "./d/f" }));
        Assert.That(hl, Has.Count.EqualTo(2));
        var wh = entries.Single(e => e.Name == "./wh");
        Assert.That((wh.Type, wh.DevMajor, wh.DevMinor, wh.Mode), Is.EqualTo((TarEntryType.CharDevice, 0u, 0u, 0u)));
        Assert.That(entries.Any(e => e.Name == "./sock"), Is.False, "sockets are skipped");
        var d = entries.Single(e => e.Name == "./d/");
        var acl = d.Xattrs.Single(x => x.Key == Acl.Access).Value;
        Assert.That(System.Text.Encoding.ASCII.GetString(acl), Does.StartWith("AgAAAA").And.Not.EndWith("="));
        var caps = entries.Single(e => e.Name == "./caps").Xattrs.Single(x => x.Key == "security.capability").Value;
        Assert.That(Convert.ToHexString(caps), Is.EqualTo("0100000200040000000000000000000000000000"));
        var opaque = entries.Single(e => e.Name == "./e/").Xattrs.Single(x => x.Key == "trusted.overlay.opaque").Value;
        Assert.That(opaque, Is.EqualTo("y"u8.ToArray()));
    }

    internal static string Text(TarEntry e) =>
        $"{e.Type} {e.Name} -> {e.LinkName} {Convert.ToString(e.Mode, 8)} {e.Uid}:{e.Gid} {e.MtimeSec}.{e.MtimeNsec} {e.Size} {e.DevMajor}:{e.DevMinor} "
        + string.Join(",", e.Xattrs.Select(x => x.Key + "=" + Convert.ToHexString(x.Value)));

    /// <summary>Entries with their metadata (mtimes of dirs/files included), sorted by name.</summary>
    internal static List<TarEntry> Entries(byte[] archive)
    {
        var list = new List<TarEntry>();
        using var r = new PaxTarReader(new MemoryStream(archive), long.MaxValue);
        while (r.Next() is { } e) list.Add(e);
        return list;
    }
}
