using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>
/// Write(layers): a container's upper over cached layers (extracted archives) over an image, snapshotted as one change
/// set. The archive is defined by the kernel: extracted into an empty upper and mounted over the image alone, it must
/// show node by node what overlayfs shows with the whole stack mounted.
/// </summary>
[TestFixture]
public class MergedSnapshotTests : OverlayFixture
{
    static byte[] Snapshot(params string[] layers)
    {
        var ms = new MemoryStream();
        UpperArchive.Write(layers, ms);
        return ms.ToArray();
    }

    static List<string> EntryTexts(byte[] archive) => RoundTripTests.Entries(archive).Select(RoundTripTests.Text).ToList();

    static TarEntry Entry(byte[] archive, string name) => RoundTripTests.Entries(archive).Single(e => e.Name == name);

    static bool Opaque(TarEntry e) => UpperXattrs.MarksOpaque(e);

    /// <summary>The archive extracted into an empty upper, mounted over the image alone: the merged view.</summary>
    SortedDictionary<string, string> Restored(byte[] archive, string image, out string upper)
    {
        upper = NewDir("u2");
        UpperArchive.Extract(new MemoryStream(archive), upper, new ExtractOptions());
        var merged = Mount(image, upper, ModelOptions);
        var view = Tree.Describe(merged);
        Unmount(merged);
        return view;
    }

    string BuildImage()
    {
        var image = NewDir("image");
        Sh.Run($"""
            cd {Sh.Q(image)}
            mkdir -p etc/conf.d usr/bin opq/keep/deep dir2file/inner whdir/inner filedir/inner keep
            echo hosts > etc/hosts; echo a > etc/conf.d/a; echo b > etc/conf.d/b
            echo tool > usr/bin/tool; echo sh > usr/bin/sh
            echo k > opq/keep/deep/k; echo o > opq/o
            echo w > dir2file/inner/w; echo x > whdir/inner/x; echo y > filedir/inner/y
            echo gone > img-gone; echo del > img-del; echo k > keep/k
            chmod 0750 keep; chown 10:20 keep
            """);
        return image;
    }

    /// <summary>Archive A as csshim writes one: the snapshot of an upper holding changes to the image.</summary>
    byte[] BuildArchiveA()
    {
        var changes = NewDir("changes");
        Sh.Run($"""
            cd {Sh.Q(changes)}
            mkdir -p etc/conf.d new/sub opq cdir/inner cdir2 hl keep
            echo hosts-A > etc/hosts; echo c > etc/conf.d/c
            mknod etc/conf.d/b c 0 0; mknod img-gone c 0 0; mknod whdir c 0 0
            setfattr -n trusted.overlay.opaque -v y opq; echo only > opq/only
            echo file > dir2file; echo filedir > filedir
            echo f1 > new/f1; echo f2 > new/f2; echo s > new/sub/s; mkfifo new/fifo
            setfattr -n user.note -v 0x00ff01 new/f1; setfattr -n trusted.t -v dir new
            setfacl -m u:1000:rwx,g:100:r new/f1; setfacl -d -m g:100:rx new
            echo h > new/h1; ln new/h1 new/h2; ln new/h1 etc/h3
            echo a > hl/a; ln hl/a hl/b
            ln -s ../etc/hosts new/link; ln -s /usr/bin/tool abs
            echo c1 > cdir/c1; echo ci > cdir/inner/ci; echo c2 > cdir2/c2; echo fromA > keep/fromA
            chown 1234:5678 new/f2; chmod 0640 new/f2; chmod 0700 cdir2
            touch -d '2001-02-03 04:05:06.123456789' new/f1 etc/hosts
            touch -d '2010-01-01 00:00:01' etc etc/conf.d new new/sub opq cdir cdir2 hl keep .
            """);
        return Snapshot(changes);
    }

    /// <summary>
    /// The image; archive A extracted into a cache layer C; a fresh upper U mounted over C and the image, through which
    /// a container changed more (copy-ups, deletions, a directory removed and made again, directories made where C has a
    /// whiteout or a file, a broken hard link group). Returns the merged view before the unmount.
    /// </summary>
    (string Image, string Cache, string Upper, byte[] A, SortedDictionary<string, string> View) ContainerOverCache()
    {
        var image = BuildImage();
        var a = BuildArchiveA();
        var cache = NewDir("cache");
        UpperArchive.Extract(new MemoryStream(a), cache, new ExtractOptions());
        var upper = NewDir("upper");
        var merged = Mount($"{cache}:{image}", upper, ModelOptions);
        Sh.Run($"""
            cd {Sh.Q(merged)}
            echo more >> new/f1
            rm new/f2 usr/bin/tool img-del
            rm -rf cdir; mkdir cdir; echo n > cdir/n
            mkdir whdir; echo w2 > whdir/w2
            rm filedir; mkdir filedir; echo f > filedir/f
            echo added > opq/added
            chmod 0711 cdir2; chown 7:8 cdir2; setfattr -n user.later -v 1 cdir2
            chmod 0705 new; setfattr -n trusted.m -v 2 etc; echo d > etc/conf.d/d; echo a2 >> etc/conf.d/a
            echo broken >> hl/a; rm etc/h3
            mkdir -p fresh/deep; echo z > fresh/deep/z; ln fresh/deep/z fresh/z2; ln -s /x fresh/ln
            touch -d '2020-02-02 02:02:02' new cdir2
            """);
        var view = Tree.Describe(merged);
        Unmount(merged);
        return (image, cache, upper, a, view);
    }

    [Test]
    public void ContainerOverCachedLayer_RestoresToTheSameMergedView()
    {
        var (image, cache, upper, _, view) = ContainerOverCache();
        // The kernel's view is what the scenario says, or the comparison below would prove little.
        Assert.That(view.Keys, Does.Contain("opq/only").And.Contain("opq/added").And.Not.Contain("opq/o").And.Not.Contain("opq/keep"));
        Assert.That(view.Keys, Does.Not.Contain("usr/bin/tool").And.Contain("usr/bin/sh").And.Not.Contain("img-gone").And.Not.Contain("img-del"));
        Assert.That(view.Keys, Does.Contain("cdir/n").And.Not.Contain("cdir/c1").And.Not.Contain("cdir/inner"));
        Assert.That(view.Keys, Does.Contain("whdir/w2").And.Not.Contain("whdir/inner").And.Contain("filedir/f").And.Not.Contain("filedir/inner"));
        Assert.That(view.Keys, Does.Contain("keep/k").And.Contain("keep/fromA").And.Not.Contain("etc/conf.d/b").And.Not.Contain("new/f2"));
        Assert.That(view["dir2file"], Does.StartWith("type=8"));
        Assert.That(view["new/f1"], Does.Contain("xattr[system.posix_acl_access]").And.Contain("xattr[user.note]=00FF01"));
        Assert.That(view["new/h2"], Does.Contain("hardlink-of=new/h1"));
        Assert.That(view["hl/b"], Does.Not.Contain("hardlink-of"));
        Assert.That(view["cdir2"], Does.StartWith("type=4 mode=711 uid=7 gid=8").And.Contain("xattr[user.later]"));

        var archive = Snapshot(upper, cache);
        var restored = Restored(archive, image, out _);
        // The one difference the image alone cannot avoid: new/ is C's, so restored it is a plain upper directory and
        // overlayfs lists the whiteout of new/f2 in readdir (the stack merged U's new/ with C's and filtered it). It
        // stays in the archive all the same: over an image that has new/f2 it must hide it.
        Assert.That(restored.GetValueOrDefault("new/f2"), Is.EqualTo(Tree.ListedButAbsent));
        Assert.That(Entry(archive, "./new/f2").IsWhiteout, Is.True);
        restored.Remove("new/f2");
        Tree.AssertSame(view, restored);

        // Directories the container only changed still merge with the image's; those it made again hide it.
        Assert.That(Opaque(Entry(archive, "./etc/")), Is.False);
        Assert.That(Opaque(Entry(archive, "./new/")), Is.False);
        Assert.That(Opaque(Entry(archive, "./cdir/")), Is.True);
        Assert.That(Opaque(Entry(archive, "./opq/")), Is.True);
        var names = RoundTripTests.Entries(archive).Select(e => e.Name).ToList();
        Assert.That(names, Does.Not.Contain("./cdir/c1").And.Not.Contain("./cdir/inner/").And.Contain("./usr/bin/tool").And.Contain("./img-gone"));
        Assert.That(Entry(archive, "./new/h2").LinkName, Is.EqualTo("./new/h1"), "the shrunk link group keeps its first path");
        Assert.That(Entry(archive, "./hl/b").Type, Is.EqualTo(TarEntryType.File), "the copied-up a and the cached b are two files now");
        Assert.That(Entry(archive, "./fresh/z2").LinkName, Is.EqualTo("./fresh/deep/z"));
        Assert.That(Xattr.Get(upper + "/cdir2", "trusted.overlay.origin"), Is.Not.Null, "overlayfs recorded the copy-up in U");
        Assert.That(RoundTripTests.Entries(archive).SelectMany(e => e.Xattrs.Select(x => x.Key)).Where(k => k.StartsWith("trusted.overlay.")).Distinct(),
            Is.EqualTo(new[] { "trusted.overlay.opaque" }), "overlayfs's bookkeeping in U is dropped");
    }

    [Test]
    public void SnapshotOfTheRestore_IsTheSameArchive()
    {
        var (image, cache, upper, _, _) = ContainerOverCache();
        var archive = Snapshot(upper, cache);
        Restored(archive, image, out var restored);
        Assert.That(Snapshot(restored), Is.EqualTo(archive));
    }

    [Test]
    public void OneLayer_IsTheSingleDirectorySnapshot()
    {
        var (_, _, upper, _, _) = ContainerOverCache();
        var rich = NewDir("rich");
        Tree.BuildRich(rich);
        foreach (var dir in new[] { upper, rich })
        {
            var single = new MemoryStream();
            UpperArchive.Write(dir, single);
            Assert.That(Snapshot(dir), Is.EqualTo(single.ToArray()), dir);
        }
    }

    [Test]
    public void CachedLayerUnderAnEmptyUpper_GivesBackTheArchiveItCameFrom()
    {
        var a = BuildArchiveA();
        var cache = NewDir("cache");
        UpperArchive.Extract(new MemoryStream(a), cache, new ExtractOptions());
        var upper = NewDir("upper");
        Sh.Run($"chmod 0710 {Sh.Q(upper)}; chown 3:4 {Sh.Q(upper)}; touch -d @1321009871 {Sh.Q(upper)}");
        var merged = EntryTexts(Snapshot(upper, cache));
        var original = EntryTexts(a);
        Assert.That(merged.Skip(1), Is.EqualTo(original.Skip(1)));
        Assert.That(merged[0], Does.StartWith("Directory ./ ->  710 3:4 1321009871.0 "), "the root is the top layer's");
        Assert.That(original[0], Does.Not.StartWith("Directory ./ ->  710 3:4"));
    }

    /// <summary>
    /// Stacks overlayfs reads but does not make itself through one mount: a plain directory over a lower whiteout, file
    /// or opaque directory, merges across three layers, opaque markers on layer roots.
    /// </summary>
    [Test]
    public void HandMadeStack_MergesAsOverlayfsLooksUp()
    {
        var image = NewDir("image");
        var u = NewDir("u");
        var c1 = NewDir("c1");
        var c2 = NewDir("c2");
        Sh.Run($"""
            cd {Sh.Q(image)}
            for d in d1 d2 d3 d4 d5 d6 d8 f1; do mkdir -p $d/sub; echo i > $d/img; done
            echo i > x3; mkdir x2; echo i > x2/img; echo i > rootimg; echo i > d4/img2
            cd {Sh.Q(c2)}
            mknod d1 c 0 0; echo c2 > d2; mkdir d3 d4 d5 d6 d7; setfattr -n trusted.overlay.opaque -v y d3 .
            echo c2 > d3/c2; echo c2 > d4/c2; mkdir d4/sub; echo c2 > d4/sub/c2; echo c2 > d5/c2; echo c2 > d6/c2; echo c2 > d7/c2; ln -s /t d8
            echo c2 > x3; echo c2 > shadowed
            cd {Sh.Q(c1)}
            mkdir d3 d6 d8 x2 f0; mknod d5 c 0 0; setfattr -n trusted.overlay.opaque -v y d6
            echo c1 > d3/c1; echo c1 > d6/c1; echo c1 > d8/c1; echo c1 > x2/c1; echo c1 > f1; mknod x3 c 0 0
            echo c1 > shadowed; chmod 0700 d3; echo c1 > d3/c1x; mknod d6/w c 0 0
            cd {Sh.Q(u)}
            mkdir d1 d2 d3 d4 d5; echo u > d1/u; echo u > d2/u; echo u > d3/u; echo u > d4/u; echo u > d5/u
            chmod 0751 d3; chmod 0750 d4; chown 5:6 d4; setfattr -n user.top -v 1 d3; setfattr -n trusted.overlay.impure -v y d3
            mknod x1 c 0 0; echo u > x2; echo u > f0; mknod d3/c1x c 0 0; mknod d4/img2 c 0 0; mkdir d4/usub; echo u > d4/usub/x
            touch -d '2012-12-12 12:12:12' d1 d2 d3 d4 d5 .
            """);
        var merged = Mount($"{c1}:{c2}:{image}", u, ModelOptions);
        var view = Tree.Describe(merged);
        Unmount(merged);
        Assert.That(view.Keys, Does.Contain("d4/img").And.Contain("d4/c2").And.Contain("d4/u").And.Contain("d4/sub/c2").And.Contain("d4/usub/x").And.Contain("rootimg"), "plain directories merge down to the image; a root is never opaque");
        Assert.That(view.Keys, Does.Not.Contain("d1/img").And.Not.Contain("d2/img").And.Not.Contain("d5/c2").And.Not.Contain("d3/img"));
        Assert.That(view.Keys, Does.Contain("d3/u").And.Contain("d3/c1").And.Contain("d3/c2").And.Contain("d6/c1").And.Not.Contain("d6/c2"));
        Assert.That(view.Keys, Does.Not.Contain("d3/c1x").And.Not.Contain("d4/img2"), "whiteouts of merged directories are filtered");
        Assert.That(view.GetValueOrDefault("d6/w"), Is.EqualTo(Tree.ListedButAbsent), "one of a directory from one layer is not");

        var archive = Snapshot(u, c1, c2);
        Tree.AssertSame(view, Restored(archive, image, out _));
        foreach (var (dir, opaque) in new[] { ("d1", true), ("d2", true), ("d3", true), ("d4", false), ("d5", true), ("d6", true), ("d7", false), ("d8", true) })
            Assert.That(Opaque(Entry(archive, $"./{dir}/")), Is.EqualTo(opaque), dir);
        Assert.That(Entry(archive, "./d3/").Mode, Is.EqualTo(Convert.ToUInt32("751", 8)), "attributes are the top layer's");
        Assert.That((Entry(archive, "./d4/").Mode, Entry(archive, "./d4/").Uid), Is.EqualTo((Convert.ToUInt32("750", 8), 5u)));
        Assert.That((Entry(archive, "./f0").Type, Entry(archive, "./f1").Type), Is.EqualTo((TarEntryType.File, TarEntryType.File)));
        Assert.That(Entry(archive, "./d3/").Xattrs.Select(x => x.Key), Is.EqualTo(new[] { "trusted.overlay.opaque", "user.top" }));
        Assert.That(Opaque(Entry(archive, "./")), Is.False);
        Assert.That((Entry(archive, "./x1").Type, Entry(archive, "./x3").Type), Is.EqualTo((TarEntryType.CharDevice, TarEntryType.CharDevice)));
        Assert.That(RoundTripTests.Entries(archive).Select(e => e.Name), Does.Not.Contain("./x2/c1"));
        // In a directory archived opaque after a merge a whiteout hides nothing, and restored it would be listed.
        Assert.That(RoundTripTests.Entries(archive).Select(e => e.Name), Does.Not.Contain("./d3/c1x"));
        Assert.That((Entry(archive, "./d4/img2").IsWhiteout, Entry(archive, "./d6/w").IsWhiteout), Is.EqualTo((true, true)));
    }

    [Test]
    public void SameInodeInTwoLayers_IsTwoFiles()
    {
        var u = NewDir("u");
        var c = NewDir("c");
        Sh.Run($"echo same > {Sh.Q(u)}/a; ln {Sh.Q(u)}/a {Sh.Q(c)}/b; echo t > {Sh.Q(c)}/t; ln {Sh.Q(c)}/t {Sh.Q(c)}/t2");
        var entries = RoundTripTests.Entries(Snapshot(u, c)).ToDictionary(e => e.Name);
        Assert.That((entries["./a"].Type, entries["./b"].Type, entries["./b"].Size), Is.EqualTo((TarEntryType.File, TarEntryType.File, 5L)));
        Assert.That((entries["./t2"].Type, entries["./t2"].LinkName), Is.EqualTo((TarEntryType.HardLink, "./t")), "links within a lower layer stay links");
    }

    [Test]
    public void LowerLayerFaults_FailTheSnapshotNamingThePath()
    {
        var u = NewDir("u");
        var c = NewDir("c");
        Sh.Run($"mkdir {Sh.Q(c)}/d; setfattr -n trusted.overlay.redirect -v /old {Sh.Q(c)}/d");
        var ex = Assert.Throws<SnapshotFailedException>(() => Snapshot(u, c));
        Assert.That(ex!.Message, Does.StartWith("cannot snapshot './d/': overlayfs redirect (trusted.overlay.redirect)"));

        ex = Assert.Throws<SnapshotFailedException>(() => Snapshot(u, c + "/missing"));
        Assert.That(ex!.Message, Does.StartWith($"cannot snapshot './': cannot open lower layer 1 '{c}/missing': "));
        Assert.Throws<ArgumentException>(() => UpperArchive.Write(Array.Empty<string>(), Stream.Null));
    }
}
