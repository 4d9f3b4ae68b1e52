using Csshim.TarLayer.Posix;
using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>A real overlayfs upper layer: snapshot it live, restore it into a fresh upper, same merged view.</summary>
[TestFixture]
public class OverlayTests : OverlayFixture
{
    /// <summary>lower/ (a dir "a" with a file, a file "f"), upper/, work/, merged/ mounted with the options.</summary>
    string MountedOverlay(string options)
    {
        var top = NewDir("ovl");
        Sh.Run($"cd {Sh.Q(top)}; mkdir -p lower/a upper work merged; echo a > lower/a/x; echo f > lower/f");
        Mount(top + "/lower", top + "/upper", options, top + "/work", top + "/merged");
        return top;
    }

    [Test]
    public void RenamedDirectory_WithRedirectDirOn_FailsTheSnapshot()
    {
        var top = MountedOverlay("redirect_dir=on");
        Sh.Run($"mv {Sh.Q(top)}/merged/a {Sh.Q(top)}/merged/b");
        Assert.That(Xattr.Get(top + "/upper/b", "trusted.overlay.redirect"), Is.Not.Null, "overlayfs recorded a redirect");
        var ex = Assert.Throws<SnapshotFailedException>(() => UpperArchive.Write(top + "/upper", Stream.Null));
        Assert.That(ex!.Message, Does.StartWith("cannot snapshot './b/': overlayfs redirect (trusted.overlay.redirect)"));
    }

    [Test]
    public void MetadataOnlyCopyUp_WithMetacopyOn_FailsTheSnapshot()
    {
        var top = MountedOverlay("redirect_dir=on,metacopy=on");
        Sh.Run($"chmod 600 {Sh.Q(top)}/merged/f");
        Assert.That(new FileInfo(top + "/upper/f").Length, Is.EqualTo(2), "a sparse upper file of the lower size");
        var ex = Assert.Throws<SnapshotFailedException>(() => UpperArchive.Write(top + "/upper", Stream.Null));
        Assert.That(ex!.Message, Does.StartWith("cannot snapshot './f': overlayfs metadata-only copy-up (trusted.overlay.metacopy)"));
    }

    [TestCase("user.overlay.redirect", "overlayfs redirect")]
    [TestCase("user.overlay.metacopy", "overlayfs metadata-only copy-up")]
    public void UserxattrForms_FailTheSnapshotToo(string xattr, string reason)
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; mkdir d; setfattr -n {xattr} -v x d");
        var ex = Assert.Throws<SnapshotFailedException>(() => UpperArchive.Write(upper, Stream.Null));
        Assert.That(ex!.Message, Does.StartWith($"cannot snapshot './d/': {reason} ({xattr})"));
    }

    [Test]
    public void CsshimMarkerXattrs_AreNeitherArchivedNorRestored()
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; echo x > f; setfattr -n {UpperArchive.PrivateXattrPrefix}restored -v 1 .; " +
               $"setfattr -n {UpperArchive.PrivateXattrPrefix}other -v 2 f; setfattr -n trusted.kept -v 3 f");
        var ms = new MemoryStream();
        UpperArchive.Write(upper, ms);
        var names = RoundTripTests.Entries(ms.ToArray()).SelectMany(e => e.Xattrs.Select(x => x.Key)).ToList();
        Assert.That(names, Is.EqualTo(new[] { "trusted.kept" }));

        var pax = Hand.PaxData(("SCHILY.xattr." + UpperArchive.PrivateXattrPrefix + "restored", "1"u8.ToArray()), ("SCHILY.xattr.trusted.kept", "3"u8.ToArray()));
        var tar = Hand.Concat(Hand.Header("./PaxHeaders/f", 'x', pax.Length), Hand.Pad(pax), Hand.Header("./f", '0', 0), new byte[1024]);
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(tar), dest, new ExtractOptions());
        Assert.That(Xattr.Get(dest + "/f", UpperArchive.PrivateXattrPrefix + "restored"), Is.Null);
        Assert.That(Xattr.Get(dest + "/f", "trusted.kept"), Is.EqualTo("3"u8.ToArray()));
    }

    [Test]
    public void UpperSnapshot_RestoresToTheSameMergedView()
    {
        var top = NewDir("ovl");
        Sh.Run($"cd {Sh.Q(top)}; mkdir lower upper work merged upper2 work2 merged2; cd lower; " +
               "echo 1 > gone; echo 2 > gone2; mkdir -p olddir/deep; echo a > olddir/a; echo k > keep; mkdir kept; echo o > kept/old");
        Mount(top + "/lower", top + "/upper", "", top + "/work", top + "/merged");
        Sh.Run($"cd {Sh.Q(top)}/merged; rm gone gone2; rm -rf olddir; mkdir olddir; echo b > olddir/b; " +
               "echo n > newfile; ln newfile newlink; ln newfile kept/link3; echo more >> keep; mkfifo kept/p; chmod 0700 kept");

        // Snapshot the live upper directory while the overlay is still mounted.
        var ms = new MemoryStream();
        UpperArchive.Write(top + "/upper", ms);
        var entries = RoundTripTests.Entries(ms.ToArray());
        var byName = entries.ToDictionary(e => e.Name);

        Assert.That(Fs.LStatAt(-100, top + "/upper/gone", out var wst), Is.Zero);
        Assert.That(wst.NLink, Is.GreaterThan(1), "this kernel makes whiteouts as hard links to a shared inode");
        foreach (var w in new[] { "./gone", "./gone2" })
        {
            Assert.That(byName[w].Type, Is.EqualTo(TarEntryType.CharDevice), $"{w} is a whiteout, not a hard link");
            Assert.That((byName[w].DevMajor, byName[w].DevMinor), Is.EqualTo((0u, 0u)));
        }
        Assert.That(entries.Where(e => e.Type == TarEntryType.HardLink).Select(e => (e.Name, e.LinkName)),
            Is.EquivalentTo(new[] { ("./newfile", "./kept/link3"), ("./newlink", "./kept/link3") }), "walk order is sorted: ./kept/ comes first");
        Assert.That(byName["./olddir/"].Xattrs.Any(x => x.Key == "trusted.overlay.opaque" && x.Value.SequenceEqual("y"u8.ToArray())), Is.True);

        var view = Tree.Describe(top + "/merged");
        Unmount(top + "/merged");

        UpperArchive.Extract(new MemoryStream(ms.ToArray()), top + "/upper2", new ExtractOptions());
        Tree.AssertSame(Tree.Describe(top + "/upper"), Tree.Describe(top + "/upper2", rel => true));
        Mount(top + "/lower", top + "/upper2", "", top + "/work2", top + "/merged2");
        var view2 = Tree.Describe(top + "/merged2");
        Tree.AssertSame(view, view2);
        Assert.That(view.Keys, Does.Not.Contain("gone").And.Not.Contain("olddir/a").And.Contain("olddir/b").And.Contain("kept/old"));
    }
}
