using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>Archives we write extract with GNU tar; archives GNU tar writes restore through us.</summary>
[TestFixture]
public class GnuTarInteropTests : TmpfsFixture
{
    [Test]
    public void OurArchive_ListsAndExtractsWithGnuTar()
    {
        var src = NewDir("src");
        Tree.BuildRich(src, withAcls: false); // GNU tar would take runsc's base64 ACL text as the raw value
        var archive = Path.Combine(NewDir("a"), "ours.tar");
        using (var f = File.Create(archive)) UpperArchive.Write(src, f);

        var listing = Sh.Run($"tar -tvf {Sh.Q(archive)}");
        Assert.That(listing, Does.Contain("./d/sub/hl2 link to ./d/f").And.Contain("./abs -> /abs/target").And.Contain("c--------- 0/0               0,0 "));
        Assert.That(listing, Does.Not.Contain("sock"));

        var dst = NewDir("dst");
        Sh.Run($"tar --xattrs --xattrs-include='*' --numeric-owner -xpf {Sh.Q(archive)} -C {Sh.Q(dst)}");
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(dst));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void GnuTarArchive_RestoresThroughUs(bool acls)
    {
        var src = NewDir("src");
        Tree.BuildRich(src, withAcls: acls);
        var archive = Path.Combine(NewDir("a"), "gnu.tar");
        Sh.Run($"tar --xattrs --xattrs-include='*' --format=posix --numeric-owner -cpf {Sh.Q(archive)} -C {Sh.Q(src)} .");
        var dst = NewDir("dst");
        using (var f = File.OpenRead(archive)) UpperArchive.Extract(f, dst, new ExtractOptions());
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(dst));
    }

    [Test]
    public void GnuTarGzip_RestoresThroughUs()
    {
        var src = NewDir("src");
        Sh.Run($"cd {Sh.Q(src)}; mkdir -p x/y; echo 1 > x/y/z; ln x/y/z h; mknod w c 0 0");
        var archive = Path.Combine(NewDir("a"), "gnu.tgz");
        Sh.Run($"tar --format=posix --numeric-owner -czpf {Sh.Q(archive)} -C {Sh.Q(src)} .");
        var dst = NewDir("dst");
        using (var f = File.OpenRead(archive)) UpperArchive.Extract(f, dst, new ExtractOptions());
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(dst));
    }
}
