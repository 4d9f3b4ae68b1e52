using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>
/// ApplyInPlace is defined by Extract: applying an archive through an engine's mounted overlay must show exactly what
/// Extract into an empty upper directory, mounted over the same lower tree, shows. Every case builds both views on
/// real overlay mounts and compares them node by node (type, mode, owner, size, content, link target, xattrs, and
/// the mtime of every node the archive names).
/// </summary>
[TestFixture]
public class InPlaceTests : OverlayFixture
{
    /// <summary>An image as engines unpack them: merged /usr (bin, lib are symlinks) and whatever the archives meet.</summary>
    string BuildLower()
    {
        var lower = NewDir("lower");
        Sh.Run($$"""
            cd {{Sh.Q(lower)}}
            mkdir -p usr/bin usr/lib/sub etc/conf.d var/log var/cache/c dir2file/inner opq/keep opq/sub/deeper keepmeta acl acl2 wd od e d
            echo sh > usr/bin/sh; echo ls > usr/bin/ls; echo libc > usr/lib/libc.so; echo x > usr/lib/sub/x
            ln -s usr/bin bin; ln -s usr/lib lib; ln -s etc lnk2dir
            echo root:x:0:0 > etc/passwd; echo host > etc/hostname; echo a > etc/conf.d/a; echo b > etc/conf.d/b
            echo old > var/log/old.log; head -c 100000 /dev/urandom > var/cache/c/big
            echo x > dir2file/inner/x; echo y > dir2file/y
            echo 1 > opq/low1; echo 2 > opq/keep/lowkeep; echo 3 > opq/sub/deeper/z
            echo low > keepmeta/lowfile; chmod 0700 keepmeta; chown 1000:1000 keepmeta; setfattr -n user.low -v 1 keepmeta
            setfacl -d -m u:1000:rwx acl; setfacl -d -m u:1000:rwx acl2; setfattr -n user.low -v 2 acl
            echo w > wd/inwd; echo o > od/inod; echo e > e/lowfile; echo d > d/lowfile
            echo gone > gone; mkdir -p gonedir/a/b; echo z > gonedir/a/b/z; echo 1 > w1; echo 2 > w2; echo 3 > f1
            mkfifo lowfifo
            touch -h -d '2005-05-05 05:05:05' . * */* 2>/dev/null || true
            """);
        return lower;
    }

    /// <summary>Entries in archive order, through the library's own writer.</summary>
    sealed class ArchiveBuilder
    {
        readonly MemoryStream _ms = new();
        readonly PaxTarWriter _w;
        long _t = 1_600_000_000;
        public ArchiveBuilder() => _w = new PaxTarWriter(_ms);

        Csshim.TarLayer.TarEntry E(TarEntryType type, string name, uint mode, params (string, string)[] xattrs)
        {
            var e = new Csshim.TarLayer.TarEntry { Type = type, Name = name, Mode = mode, Uid = 1000, Gid = 100, MtimeSec = _t++, MtimeNsec = 123456789 };
            foreach (var (k, v) in xattrs) e.Xattrs.Add(new(k, System.Text.Encoding.UTF8.GetBytes(v)));
            return e;
        }

        public ArchiveBuilder Dir(string name, params (string, string)[] xattrs) { _w.WriteHeader(E(TarEntryType.Directory, name, 0x1E8, xattrs)); return this; }
        public ArchiveBuilder Opaque(string name) => Dir(name, ("trusted.overlay.opaque", "y"));
        public ArchiveBuilder File(string name, string content = "new", params (string, string)[] xattrs)
        {
            var e = E(TarEntryType.File, name, 0x1A4, xattrs);
            var data = System.Text.Encoding.UTF8.GetBytes(content);
            e.Size = data.Length;
            _w.WriteHeader(e);
            _w.WriteData(data);
            return this;
        }
        public ArchiveBuilder Whiteout(string name) { var e = E(TarEntryType.CharDevice, name, 0); e.Uid = e.Gid = 0; _w.WriteHeader(e); return this; }
        public ArchiveBuilder Link(string name, string target) { var e = E(TarEntryType.HardLink, name, 0x1A4); e.LinkName = target; _w.WriteHeader(e); return this; }
        public ArchiveBuilder Symlink(string name, string target) { var e = E(TarEntryType.Symlink, name, 0x1FF); e.LinkName = target; _w.WriteHeader(e); return this; }
        public ArchiveBuilder Fifo(string name) { _w.WriteHeader(E(TarEntryType.Fifo, name, 0x1B0)); return this; }
        public ArchiveBuilder Device(string name, uint major, uint minor)
        {
            var e = E(TarEntryType.CharDevice, name, 0x1B6);
            e.DevMajor = major; e.DevMinor = minor;
            _w.WriteHeader(e);
            return this;
        }
        public byte[] Bytes() { _w.Finish(); _w.Dispose(); return _ms.ToArray(); }
    }

    static readonly ExtractOptions Options = new() { AllowDevices = true };

    static IEnumerable<TestCaseData> Corpus()
    {
        yield return new TestCaseData("runsc-style: merged dirs, replaced files, whiteouts, opaque dirs", (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder()
            .Dir("./").Dir("./etc/").File("./etc/passwd", "root:x:0:0:new").Whiteout("./etc/not-in-image").Whiteout("./gone").Whiteout("./gonedir")
            .Dir("./var/").Opaque("./var/log/").File("./var/log/new.log").Opaque("./var/cache/")
            .Dir("./usr/").Opaque("./usr/lib/").File("./usr/lib/newlib").Dir("./usr/bin/").File("./usr/bin/ls", "new ls").Bytes()));
        yield return new TestCaseData("children before their opaque parent", (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder()
            .File("./opq/keep/file").File("./opq/new").File("./opq/sub/deeper/newz").Opaque("./opq/").Dir("./opq/keep/").Bytes()));
        yield return new TestCaseData("merged /usr: /bin becomes a directory, implied parents over a symlink, a directory becomes a file",
            (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder()
            .Dir("./bin/").File("./bin/tool").File("./lib/x/y").Dir("./lnk2dir/").File("./lnk2dir/f").File("./dir2file", "now a file").Bytes()));
        yield return new TestCaseData("implied parents over image directories, default ACLs of the image",
            (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder()
            .File("./keepmeta/newfile").Dir("./acl/").File("./acl/f").Dir("./acl/sub/").File("./acl2/f").Fifo("./acl2/p").Bytes()));
        yield return new TestCaseData("the last entry of a name decides",
            (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder()
            .Whiteout("./wd").Dir("./wd/").File("./wd/child").Opaque("./od/").Opaque("./od/").File("./f1").Whiteout("./f1")
            .Whiteout("./w1").Link("./w2", "./w1").File("./nf").Link("./nl", "./nf").Symlink("./sl", "/nowhere").Link("./sl2", "./sl").Bytes()));
        yield return new TestCaseData("an opaque root is not opaque to overlayfs",
            (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder().Dir("./", ("trusted.overlay.opaque", "y"), ("user.rootx", "r")).File("./newtop").Bytes()));
        yield return new TestCaseData("FIFOs, devices, empty directories merged or opaque",
            (Func<InPlaceTests, byte[]>)(_ => new ArchiveBuilder()
            .Fifo("./fifo").Fifo("./lowfifo").Device("./null", 1, 3).Dir("./etc/").Dir("./etc/conf.d/").Dir("./emptynew/")
            .Dir("./var/").Opaque("./var/cache/").Opaque("./e/").Bytes()));
        yield return new TestCaseData("a snapshot of a rich upper layer", (Func<InPlaceTests, byte[]>)(t => t.RichArchive()));
    }

    byte[] RichArchive()
    {
        var src = NewDir("rich");
        Tree.BuildRich(src);
        var ms = new MemoryStream();
        UpperArchive.Write(src, ms);
        return ms.ToArray();
    }

    /// <summary>The model: Extract into an empty upper, mounted over lower.</summary>
    string ModelView(string lower, byte[] archive, string options = ModelOptions)
    {
        var upper = NewDir("upper");
        UpperArchive.Extract(new MemoryStream(archive), upper, Options);
        return Mount(lower, upper, options);
    }

    /// <summary>What an engine mounts: an overlay with its own (empty) upper over the image.</summary>
    (string Merged, string Upper) EngineRootfs(string lower, string options = "")
    {
        var upper = NewDir("engine-upper");
        return (Mount(lower, upper, options), upper);
    }

    /// <summary>Root "." and every path the archive names; their mtimes must match too.</summary>
    static Func<string, bool> Named(byte[] archive)
    {
        var names = RoundTripTests.Entries(archive).Select(e => EntryPath.Normalize(e.Name)).Select(r => r.Length == 0 ? "." : r).ToHashSet();
        return names.Contains;
    }

    [TestCaseSource(nameof(Corpus))]
    public void InPlace_LooksLikeExtractMountedOver_AgainAfterASecondApply_AndItsSnapshotRestoresTheSame(string what, Func<InPlaceTests, byte[]> build)
    {
        var archive = build(this);
        var lower = BuildLower();
        var lowerBefore = Tree.Describe(lower);
        var named = Named(archive);
        var expected = Tree.Describe(ModelView(lower, archive), mtimeOf: named);

        var (rootfs, engineUpper) = EngineRootfs(lower);
        var result = UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        Tree.AssertSame(expected, Tree.Describe(rootfs, mtimeOf: named));
        Assert.That(result, Is.EqualTo(UpperArchive.Validate(new MemoryStream(archive), Options)));

        UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        Tree.AssertSame(expected, Tree.Describe(rootfs, mtimeOf: named));

        // The engine's upper layer now holds the restore: snapshot it and restore that the usual way.
        var snapshot = new MemoryStream();
        UpperArchive.Write(engineUpper, snapshot);
        Tree.AssertSame(expected, Tree.Describe(ModelView(lower, snapshot.ToArray()), mtimeOf: named));
        Tree.AssertSame(lowerBefore, Tree.Describe(lower));
    }

    [TestCase(0.25)]
    [TestCase(0.5)]
    [TestCase(0.9)]
    public void InterruptedApply_CompletedByApplyingAgain(double cut)
    {
        var archive = new ArchiveBuilder()
            .Whiteout("./gonedir").File("./opq/keep/file").Opaque("./opq/").Dir("./bin/").File("./bin/tool")
            .File("./keepmeta/newfile").Whiteout("./wd").Dir("./wd/").File("./big", new string('b', 300_000))
            .Opaque("./var/cache/").Dir("./etc/").File("./etc/passwd", "replaced").Link("./etc/hl", "./etc/passwd").Bytes();
        var lower = BuildLower();
        var named = Named(archive);
        var expected = Tree.Describe(ModelView(lower, archive), mtimeOf: named);

        var (rootfs, _) = EngineRootfs(lower);
        var ex = Assert.Throws<ArchiveRejectedException>(() =>
            UpperArchive.ApplyInPlace(new MemoryStream(archive[..(int)(archive.Length * cut)]), rootfs, Options));
        Assert.That(ex!.Message, Does.Contain("archive truncated"));
        UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        Tree.AssertSame(expected, Tree.Describe(rootfs, mtimeOf: named));
    }

    /// <summary>
    /// The one known divergence: a name first restored as a non-directory over an image directory, then as a
    /// (non-opaque) directory. Extract's upper ends with a plain directory that merges with the image's; in place, the
    /// image's directory was already removed when the non-directory replaced it, and cannot come back.
    /// </summary>
    [Test]
    public void NonDirectoryThenDirectoryOverAnImageDirectory_InPlaceHidesTheImageContent()
    {
        var archive = new ArchiveBuilder().File("./d", "file first").Dir("./d/").File("./d/new").Bytes();
        var lower = BuildLower();
        var model = Tree.Describe(ModelView(lower, archive));
        var (rootfs, _) = EngineRootfs(lower);
        UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        var inPlace = Tree.Describe(rootfs);
        Assert.That(model.Keys.Where(k => k.StartsWith("d/")), Is.EqualTo(new[] { "d/lowfile", "d/new" }));
        Assert.That(inPlace.Keys.Where(k => k.StartsWith("d/")), Is.EqualTo(new[] { "d/new" }));
    }

    /// <summary>An opaque directory listed before its children (as runsc and csshim write) becomes one opaque directory
    /// in the engine's upper, not a whiteout per image child: a snapshot of the restored container carries the marker
    /// on, so restoring it over another image still hides that image's contents.</summary>
    [Test]
    public void OpaqueDirectoryBeforeItsChildren_StaysOneOpaqueDirectoryInTheEnginesUpper()
    {
        var archive = new ArchiveBuilder().Opaque("./d/").File("./d/new").Bytes();
        var lower = BuildLower();
        var (rootfs, engineUpper) = EngineRootfs(lower);
        UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        var snapshot = new MemoryStream();
        UpperArchive.Write(engineUpper, snapshot);
        var entries = RoundTripTests.Entries(snapshot.ToArray()).ToDictionary(e => e.Name);
        Assert.Multiple(() =>
        {
            Assert.That(entries["./d/"].Xattrs.Select(x => x.Key), Does.Contain("trusted.overlay.opaque"), "the opaque marker in the engine's upper");
            Assert.That(entries.Keys.Where(k => k.StartsWith("./d/")), Is.EqualTo(new[] { "./d/", "./d/new" }), "entries below the opaque directory");
        });
    }

    /// <summary>Listing a directory as opaque and again as plain contradicts itself; every restore mode refuses it alike
    /// (an in-place restore empties an opaque directory as soon as it is listed and could not bring the image's contents back).</summary>
    [TestCase(true), TestCase(false)]
    public void ADirectoryListedOpaqueAndPlain_IsRefusedByEveryRestore(bool opaqueFirst)
    {
        var builder = new ArchiveBuilder();
        builder = opaqueFirst ? builder.Opaque("./d/").Dir("./d/") : builder.Dir("./d/").Opaque("./d/");
        var archive = builder.Bytes();
        const string reason = "entry './d/': the directory is listed both as opaque and as not opaque";
        var (rootfs, _) = EngineRootfs(BuildLower());
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(new MemoryStream(archive), NewDir("x"), Options))!.Message, Is.EqualTo(reason));
            Assert.That(Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Validate(new MemoryStream(archive), Options))!.Message, Is.EqualTo(reason));
            Assert.That(Assert.Throws<ArchiveRejectedException>(() => UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options))!.Message, Is.EqualTo(reason));
        });
    }

    [Test]
    public void UserxattrOverlay_TakesUserOverlayOpaque()
    {
        var archive = new ArchiveBuilder().Dir("./opq/", ("user.overlay.opaque", "y")).File("./opq/new").Bytes();
        var lower = BuildLower();
        var named = Named(archive);
        var expected = Tree.Describe(ModelView(lower, archive, "redirect_dir=nofollow,index=off,metacopy=off,userxattr"), mtimeOf: named);
        Assert.That(expected.Keys.Where(k => k.StartsWith("opq/")), Is.EqualTo(new[] { "opq/new" }));
        var (rootfs, _) = EngineRootfs(lower, "userxattr");
        UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        Tree.AssertSame(expected, Tree.Describe(rootfs, mtimeOf: named));
    }

    [Test]
    public void CsshimMarkerOnTheRoot_Survives_AndIsNotSnapshotted()
    {
        var lower = BuildLower();
        var (rootfs, engineUpper) = EngineRootfs(lower);
        var marker = UpperArchive.PrivateXattrPrefix + "restored";
        Sh.Run($"setfattr -n {marker} -v 1 {Sh.Q(engineUpper)}");
        var archive = new ArchiveBuilder().Dir("./", (marker, "from-archive"), ("user.r", "1")).File("./f").Bytes();
        UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options);
        Assert.That(Xattr.Get(rootfs, marker), Is.EqualTo("1"u8.ToArray()));
        Assert.That(Xattr.Get(rootfs, "user.r"), Is.EqualTo("1"u8.ToArray()));
        var snapshot = new MemoryStream();
        UpperArchive.Write(engineUpper, snapshot);
        Assert.That(RoundTripTests.Entries(snapshot.ToArray()).SelectMany(e => e.Xattrs).Select(x => x.Key), Has.None.StartWith(UpperArchive.PrivateXattrPrefix));
    }

    [Test]
    public void ImageMountPoint_IsNeverCrossed()
    {
        var lower = BuildLower();
        var (rootfs, _) = EngineRootfs(lower);
        var inner = NewDir("inner");
        File.WriteAllText(inner + "/precious", "keep");
        Sh.Run($"mount --bind {Sh.Q(inner)} {Sh.Q(rootfs)}/etc/conf.d");
        Track(rootfs + "/etc/conf.d");
        foreach (var archive in new[] { new ArchiveBuilder().File("./etc/conf.d/x").Bytes(), new ArchiveBuilder().Whiteout("./etc").Bytes() })
        {
            var ex = Assert.Throws<IOException>(() => UpperArchive.ApplyInPlace(new MemoryStream(archive), rootfs, Options));
            Assert.That(ex!.Message, Does.Contain("mount point"));
        }
        Assert.That(Directory.GetFiles(inner).Select(Path.GetFileName), Is.EqualTo(new[] { "precious" }));
    }
}
