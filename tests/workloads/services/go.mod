module cgoserver

go 1.19
