set terminal pngcairo size 960,600 font ',10'
set output 'exp5.png'
set title "5. Throughput against queue depth, 1 KiB (Fig 8)"
set xlabel "queue depth (threads = 1)"
set ylabel "requests per second"
set key inside top left box opaque font ',9'
set grid
set logscale x 2
plot 'exp5.dat' index 0 using 1:2:2:3 with yerrorlines title "clio read-sync", \
     'exp5.dat' index 1 using 1:2:2:3 with yerrorlines title "server read-sync", \
     'exp5.dat' index 2 using 1:2:2:3 with yerrorlines title "pnic read-sync", \
     'exp5.dat' index 3 using 1:2:2:3 with yerrorlines title "memcached get", \
     'exp5.dat' index 4 using 1:2:2:3 with yerrorlines title "redis getrange", \
     'exp5.dat' index 5 using 1:2:2:3 with yerrorlines title "server write-sync", \
     'exp5.dat' index 6 using 1:2:2:3 with yerrorlines title "pnic write-sync", \
     'exp5.dat' index 7 using 1:2:2:3 with yerrorlines title "memcached set", \
     'exp5.dat' index 8 using 1:2:2:3 with yerrorlines title "redis setrange", \
     'exp5.dat' index 9 using 1:2:2:3 with yerrorlines title "clio write-sync", \
     'exp5.dat' index 10 using 1:2:2:3 with yerrorlines title "pnic read-async", \
     'exp5.dat' index 11 using 1:2:2:3 with yerrorlines title "memcached multiget", \
     'exp5.dat' index 12 using 1:2:2:3 with yerrorlines title "clio read-async", \
     'exp5.dat' index 13 using 1:2:2:3 with yerrorlines title "server read-async", \
     'exp5.dat' index 14 using 1:2:2:3 with yerrorlines title "clio write-async", \
     'exp5.dat' index 15 using 1:2:2:3 with yerrorlines title "server write-async", \
     'exp5.dat' index 16 using 1:2:2:3 with yerrorlines title "pnic write-async"
